"""The Storage QoS Class catalogue and its push onto Rucio RSEs."""
