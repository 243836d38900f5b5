"""The SD card: the volume, the files written on it, and the one scan at start.

``volume`` is the card itself (its folders, whether it is still mounted and the same
one, the sequence number); ``files`` holds the synced, atomic writes and the bounded safe
reads every file on the card goes through; ``scan`` reads the card once into an index
and keeps what is not the appliance's own in ``LOST``. What the items on it are and their
names is :mod:`appliance.items`.
"""
