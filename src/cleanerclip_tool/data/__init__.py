"""Data sets: caption tables (CSV / folder), safe image decoding, eval sets."""
