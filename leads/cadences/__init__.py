"""Following leads up: cadences, touches, the channels they go by and the sending path."""
