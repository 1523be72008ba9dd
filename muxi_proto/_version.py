"""The SDK's own version, ``MAJOR.YYYYMMDD.PATCH`` like MUXI's."""

__version__ = "1.20261129.0"
