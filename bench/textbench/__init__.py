"""Text-path speed benchmark: ~1.5 KB Chinese documents and datatrove's FineWeb-2 cmn_Hani filter baseline."""
