"""The score shown under every result's piano roll: its MusicXML engraved as SVG by Verovio.

Verovio (the MEI community's engraving library; a pip wheel with no system dependencies)
draws the score where the result is made, so that the page shows one SVG file as an image:
no notation JavaScript to vendor, the same picture in every browser, and nothing drawn by hand.
The MusicXML (`core.music.notation`) brings the key signature, the 4/4 meter, bar numbers that
match the roll, a line every 4 bars and the "new" labels over regenerated bars.
"""

from __future__ import annotations

from pathlib import Path

import verovio

RESOURCES = str(Path(verovio.__file__).parent / "data")  # the fonts the wheel ships
# Verovio page units: about 4 bars of sixteenths fit a 1500-unit line at scale 40 without
# crowding, and the image then scales to the page's width (readable down to a 390 px phone).
SCORE_OPTIONS = {
    "pageWidth": 1500,
    "pageHeight": 60_000,  # one tall page: the page shows one image, not pages
    "adjustPageHeight": True,
    "scale": 40,
    "breaks": "encoded",  # the MusicXML's new systems: 4 bars a line
    "header": "none",
    "footer": "none",
    "pageMarginTop": 30,
    "pageMarginBottom": 10,
    "pageMarginLeft": 20,
    "pageMarginRight": 20,
}


def score_svg(musicxml: str) -> str:
    """A MusicXML score -> one SVG image of it; ValueError if Verovio cannot read it."""
    toolkit = verovio.toolkit(False)  # its fonts from the wheel's own folder, loaded in this thread
    toolkit.setResourcePath(RESOURCES)
    toolkit.setOptions(SCORE_OPTIONS)
    if not toolkit.loadData(musicxml):
        raise ValueError("Verovio could not read the score")
    return toolkit.renderToSVG(1)
