"""Names shared by torch-free and torch modules."""

#: attribute set on tensors from :func:`audionoise.io.load`: ``(channels, time)`` of ONE example, which injectors
#: refuse to read as a batch of mono clips
CHANNELS_FIRST_TAG = "_audionoise_channels_first"
