"""Where training runs: CPU, one GPU, or several processes through `torchrun`, and at which precision.

`torchrun --nproc_per_node=N -m train.train_vae ...` sets RANK / WORLD_SIZE / LOCAL_RANK;
the processes then form a group (nccl on CUDA, gloo on the CPU) and the model is wrapped in
DistributedDataParallel. Without them training runs in one process on CUDA if available,
else on the CPU.

Precision: "fp32"; "bf16" (bfloat16 autocast, CPU or CUDA, no loss scaling); "fp16"
(float16 autocast with a gradient scaler, CUDA only); "auto" = fp16 on CUDA, fp32 on the CPU.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def resolve_precision(self, precision: str) -> str:
        """"auto" -> "fp16" on CUDA, "fp32" elsewhere; ValueError for unknown or unsupported ones."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        if precision == "auto":
            return "fp16" if self.device.type == "cuda" else "fp32"
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError(f"precision 'fp16' needs a CUDA device, got {self.device}; use 'bf16' or 'fp32'")
        return precision

    def autocast(self, precision: str):
        """Context for the forward pass and loss at a resolved precision."""
        if precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_AUTOCAST_DTYPES[precision])

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model for the training step: DDP-wrapped when running distributed."""
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return model

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def setup_runtime(device: str | None = None) -> Runtime:
    """Start the process group under torchrun and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {device!r}") from None
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", local_rank)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if world_size > 1:
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return Runtime(chosen, rank, world_size)
