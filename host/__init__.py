"""The host side of a board: the serial driver that speaks the board top's framed protocol."""
