"""Files the stages hand each other: a run folder's layout and its event log."""
