"""Node RPC: one procedure table, a fan-out client and the node daemon's HTTP resource."""
