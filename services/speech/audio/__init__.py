"""The speech unit's audio path: SpeechService's speech to text (pocketsphinx) and text to speech (espeak-ng).

Both engines run offline on this host: espeak-ng as a subprocess per call,
pocketsphinx in a small pool of worker processes. Results are cached by a
SHA-256 of their inputs with the LLM path's cache classes.
"""
