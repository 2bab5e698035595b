"""The synthetic video data set (``python -m replication.data.synthetic``)."""
