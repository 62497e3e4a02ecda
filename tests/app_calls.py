"""Calls of the app's handlers as the API makes them, shared by the app and committed-bundle tests."""

def generate_one(*values, **named):
    """The API's /generate batch handler called with one request: its (roll, MIDI path, settings
    query, settings JSON path)."""
    from demo.generate_tab import GENERATE_DEFAULTS, GENERATE_INPUTS, generate_melodies

    request = {**GENERATE_DEFAULTS, **dict(zip(GENERATE_INPUTS, values)), **named}
    return [column[0] for column in generate_melodies(*([request[name]] for name in GENERATE_INPUTS))]
