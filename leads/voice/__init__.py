"""The lead-to-call bridge: the system rings a rep, then bridges the lead (Twilio voice)."""
