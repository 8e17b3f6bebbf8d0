"""The rep workspace: who works each lead (routing, reassignment), and the rep's queue."""
