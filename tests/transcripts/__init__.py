"""Golden transcripts: scripts in ``testdata/`` drive the sans-IO cores and print every
datagram and event; the checked-in output is the expected one (see :mod:`.runner`)."""
