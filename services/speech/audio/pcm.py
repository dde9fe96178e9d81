"""Any accepted WAV's samples as what the recognizer hears: mono, 16 kHz, 16-bit.

Runs in the recognizer's worker processes (numpy is imported there only):
decode the encoding, average the channels, low-pass before going down in rate
(so that what lies above the new Nyquist frequency does not fold back into the
band the acoustic model listens to), then interpolate onto the new sample grid.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

TARGET_RATE = 16_000
# Keep what the English acoustic model uses (its filterbank ends near 6.9 kHz), drop what would alias
# into it: the low-pass is centred on the new Nyquist frequency, 2 kHz wide.
_CUTOFF_HZ = TARGET_RATE / 2
_TRANSITION_HZ = 2_000.0
_BLACKMAN_WIDTH = 5.5  # a Blackman window's transition band is about 5.5 / taps of the sample rate
_BLOCK = 1 << 20  # samples filtered per step, to bound the temporary arrays
_DITHER_SEED = 16_000

Floats = npt.NDArray[np.float64]


def _mulaw_table() -> Floats:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.asarray(sign * magnitude / 32768.0, dtype=np.float64)


def _alaw_table() -> Floats:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = np.where(codes & 0x80, 1.0, -1.0)
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.asarray(sign * magnitude / 32768.0, dtype=np.float64)


_TABLES = {"mulaw": _mulaw_table(), "alaw": _alaw_table()}


def samples(data: bytes, encoding: str, bits: int) -> Floats:
    """The interleaved samples as floats in [-1, 1]."""
    if encoding in _TABLES:
        return _TABLES[encoding][np.frombuffer(data, dtype=np.uint8)]
    if encoding == "float":
        values = np.frombuffer(data, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
        return np.clip(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    if bits == 8:  # unsigned, centred on 128
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if bits == 24:
        triples = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        packed = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        signed = (packed << 8) >> 8  # sign-extend from 24 bits
        return np.asarray(signed, dtype=np.float64) / 8_388_608.0
    dtype = "<i2" if bits == 16 else "<i4"
    return np.frombuffer(data, dtype=dtype).astype(np.float64) / float(2 ** (bits - 1))


def _lowpass(rate: int) -> Floats:
    """A Blackman-windowed sinc at `rate`: passes what the model hears, stops what would fold back into it.

    The new Nyquist frequency (8 kHz) is the middle of the transition band:
    what passes above it folds back only above 16 kHz minus the stop edge,
    which is beyond the model's filterbank.
    """
    cutoff = _CUTOFF_HZ / rate
    half = math.ceil(_BLACKMAN_WIDTH * rate / _TRANSITION_HZ / 2)
    taps = np.arange(-half, half + 1, dtype=np.float64)
    kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.blackman(2 * half + 1)
    return np.asarray(kernel / kernel.sum(), dtype=np.float64)


def _filter(signal: Floats, kernel: Floats) -> Floats:
    if len(kernel) <= 1:
        return signal
    half = len(kernel) // 2
    padded = np.concatenate((np.zeros(half), signal, np.zeros(half)))
    out = np.empty_like(signal)
    for start in range(0, len(signal), _BLOCK):
        stop = min(start + _BLOCK, len(signal))
        out[start:stop] = np.convolve(padded[start : stop + 2 * half], kernel, mode="valid")
    return out


def to_recognizer(data: bytes, encoding: str, bits: int, channels: int, rate: int) -> bytes:
    """Little-endian 16-bit mono PCM at TARGET_RATE."""
    mono = samples(data, encoding, bits).reshape(-1, channels).mean(axis=1)
    if rate != TARGET_RATE:
        if rate > TARGET_RATE:
            mono = _filter(mono, _lowpass(rate))
        count = int(len(mono) * TARGET_RATE / rate)
        mono = np.interp(np.arange(count) * (rate / TARGET_RATE), np.arange(len(mono)), mono)
    # Dither of one step, from a fixed seed (the same input always gives the same samples): the
    # recognizer's log filterbank has nothing to work with in runs of exact zeros, which synthetic
    # and edited audio are full of, and recognises markedly fewer words without it.
    noise = np.random.default_rng(_DITHER_SEED)
    scaled = mono * 32767.0 + (noise.random(len(mono)) - noise.random(len(mono)))
    return bytes(np.clip(np.round(scaled), -32768, 32767).astype("<i2").tobytes())
