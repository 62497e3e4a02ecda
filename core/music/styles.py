"""Style labels: where a melody came from, as one word the models can condition on.

The label of a track follows from its piece's key in the melody cache, i.e. its path:
for the music21 corpus, the collection directory decides (folk tunes, chorales,
renaissance polyphony, classical); for a MIDI folder, the top-level subfolder is the label
(files directly in the folder get `DEFAULT_MIDI_STYLE`). This module is the one place that
says so.
"""

from __future__ import annotations

FOLK, CHORALE, RENAISSANCE, CLASSICAL, OTHER = "folk", "chorale", "renaissance", "classical", "other"
DEFAULT_MIDI_STYLE = "midi"

MUSIC21_STYLES = (FOLK, CHORALE, RENAISSANCE, CLASSICAL, OTHER)
# music21 corpus collection directory -> style; directories not listed are OTHER.
MUSIC21_COLLECTION_STYLES = {
    "essenFolksong": FOLK,
    "oneills1850": FOLK,
    "ryansMammoth": FOLK,
    "airdsAirs": FOLK,
    "miscFolk": FOLK,
    "nottingham-dataset": FOLK,
    "leadSheet": FOLK,
    "bach": CHORALE,
    "palestrina": RENAISSANCE,
    "monteverdi": RENAISSANCE,
    "josquin": RENAISSANCE,
    "ciconia": RENAISSANCE,
    "trecento": RENAISSANCE,
    "luca": RENAISSANCE,
    "lusitano": RENAISSANCE,
    "cpebach": CLASSICAL,
    "beethoven": CLASSICAL,
    "mozart": CLASSICAL,
    "haydn": CLASSICAL,
    "schubert": CLASSICAL,
    "schumann": CLASSICAL,
    "schumann_clara": CLASSICAL,
    "schumann_robert": CLASSICAL,
    "handel": CLASSICAL,
    "corelli": CLASSICAL,
    "verdi": CLASSICAL,
    "chopin": CLASSICAL,
}


def style_of(source: str, item_key: str) -> str:
    """The style label of a piece from its cache source ("music21" or "midi") and key.

    >>> style_of("music21", "essenFolksong/altdeu10.abc#12")
    'folk'
    >>> style_of("midi", "jazz/take5.mid")
    'jazz'
    """
    top, separator, _ = item_key.partition("/")
    if source == "music21":
        return MUSIC21_COLLECTION_STYLES.get(top, OTHER)
    return top if separator and top else DEFAULT_MIDI_STYLE
