"""The speech unit's LLM path: providers behind one Protocol, a result cache, the LlmService servicer."""
