"""In-graph WordPiece tokenizer that reproduces Hugging Face's BERT tokenizer.

Hugging Face's `BertNormalizer` + `BertPreTokenizer` are character-local: every
step (clean_text, spacing around CJK ideographs, NFD + dropping non-spacing
marks, lowercasing, whitespace splitting, isolating punctuation) maps one input
code point to a short, fixed string. So the whole pre-WordPiece pipeline is one
function `code point -> string`, which this module tabulates once in Python
(from `unicodedata`) and applies in TensorFlow with `searchsorted`/`gather` on
constant tensors. The tables live in the graph as constants, so the tokenizer
works inside `tf.data`, `tf.function` and SavedModels with no Python callback.

`tensorflow_text.BertTokenizer` is not used on purpose: its `lower_case=True`
applies ICU NFKC_Casefold, which differs from Hugging Face's plain lowercase on
full-width forms, ligatures, circled digits, etc., and it counts the WordPiece
word limit in bytes rather than characters.

Known residual differences from `tokenizers` (0.23, Python 3.11 / Unicode 14):
* Canonical reordering of NFD is applied per character, not across a word. It
  only matters with `strip_accents` for runs of combining marks that are *not*
  Mn yet have a non-zero combining class (25 code points, e.g. U+1D165), which
  Hugging Face would reorder.
* Invalid UTF-8 bytes decode to U+FFFD (and are dropped by clean_text); a
  Python `str` given to Hugging Face cannot hold them in the first place.
* Code points assigned after Unicode 14 follow Python's `unicodedata`; on a
  newer Python, marks/format characters added since may be classified
  differently from Hugging Face's (older) tables.
"""

import functools
import os
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from tf_simcse import fileio
from tf_simcse.errors import UserInputError

_MAX_CODE_POINT = 0x110000

# Unicode White_Space: what Rust's `char::is_whitespace` (used by Hugging Face)
# accepts. Python's `str.isspace` differs (it also accepts U+001C..U+001F).
_WHITE_SPACE = frozenset(
    [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680]
    + list(range(0x2000, 0x200B))
    + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)

# The "Chinese character" blocks of the original BERT code and of Hugging Face.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _parse_ranges(text):
    out = set()
    for item in text.split():
        lo, _, hi = item.partition("-")
        out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(out)


# Hugging Face's Rust crates classify characters with older Unicode tables than
# Python 3.11's `unicodedata` (14.0). Measured by running every code point
# through `tokenizers.normalizers.BertNormalizer`:
# - marks Python calls Mn but Hugging Face does not strip,
_HF_NOT_NONSPACING_MARK = _parse_ranges(
    "07FD 0898-089F 08CA-08E1 09FE 0AFA-0AFF 0B55 0C04 0C3C 0D00 0D3B-0D3C 0D81 "
    "0EBA 180F 1885-1886 1ABF-1ACE 1DF6-1DFB A82C A8C5 A8FF A9BD 10D24-10D27 "
    "10EAB-10EAC 10F46-10F50 10F82-10F85 11070 11073-11074 110C2 111C9 111CF "
    "1123E 1133B 11438-1143F 11442-11444 11446 1145E 1182F-11837 11839-1183A "
    "1193B-1193C 1193E 11943 119D4-119D7 119DA-119DB 119E0 11A01-11A0A "
    "11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 "
    "11A98-11A99 11C30-11C36 11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0 "
    "11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A 11D3C-11D3D 11D3F-11D45 11D47 "
    "11D90-11D91 11D95 11D97 11EF3-11EF4 16F4F 16FE4 1CF00-1CF2D 1CF30-1CF46 "
    "1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 "
    "1E2AE 1E2EC-1E2EF 1E944-1E94A"
)
# - format characters (Cf) Python knows but Hugging Face's clean_text keeps,
_HF_NOT_FORMAT = _parse_ranges("0890-0891 08E2 110CD 13430-13438")
# - a mark that became Mc in Unicode 14 and that Hugging Face still strips,
_HF_EXTRA_NONSPACING_MARK = frozenset([0x1734])
# - a canonical decomposition (Unicode 13) Hugging Face's NFD lacks.
_HF_NO_DECOMPOSITION = frozenset([0x11938])

# Output classes of the code point table: most code points map to themselves
# or to one of three fixed shapes; only the rest need an explicit replacement.
_IDENTITY, _DROP, _SPACE, _ISOLATE, _MAPPED = range(5)
_SELF = -2  # placeholder for "the input code point" in the class templates
_PAD = -1


def _is_cjk(cp):
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(ch):
    cp = ord(ch)
    # BERT treats all non-alphanumeric ASCII as punctuation ($, +, ^, ... are
    # not Unicode P* but are split all the same).
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_nonspacing_mark(ch):
    cp = ord(ch)
    if cp in _HF_EXTRA_NONSPACING_MARK:
        return True
    return unicodedata.category(ch) == "Mn" and cp not in _HF_NOT_NONSPACING_MARK


def _is_control(cp, category):
    # Rust `is_other()`: Cc, Cf, Co, Cs (not Cn); tab/newline/CR are whitespace.
    if cp in (0x09, 0x0A, 0x0D):
        return False
    if category == "Cf":
        return cp not in _HF_NOT_FORMAT
    return category in ("Cc", "Co", "Cs")


def _map_code_point(cp, clean_text, handle_chinese_chars, strip_accents, lowercase, pretokenize):
    """Hugging Face's BertNormalizer (+ BertPreTokenizer spacing) on one code point."""
    ch = chr(cp)
    if clean_text:
        if cp == 0 or cp == 0xFFFD or _is_control(cp, unicodedata.category(ch)):
            return ""
        if cp in _WHITE_SPACE:
            return " "
    text = ch
    if handle_chinese_chars and _is_cjk(cp):
        text = " " + ch + " "
    if strip_accents:
        if cp not in _HF_NO_DECOMPOSITION:
            text = unicodedata.normalize("NFD", text)
        text = "".join(c for c in text if not _is_nonspacing_mark(c))
    if lowercase:
        # Per character, like Rust's `char::to_lowercase` (no final-sigma rule).
        text = "".join(c.lower() for c in text)
    if pretokenize:
        pieces = []
        for c in text:
            if ord(c) in _WHITE_SPACE:
                pieces.append(" ")
            elif _is_punctuation(c):
                pieces.append(" " + c + " ")
            else:
                pieces.append(c)
        text = "".join(pieces)
    return text


@functools.lru_cache(maxsize=16)
def _code_point_table(clean_text, handle_chinese_chars, strip_accents, lowercase, pretokenize):
    """Run-length class table + explicit replacements for all code points.

    Returns numpy arrays `(run_starts, run_classes, mapped_keys, mapped_values)`
    where `mapped_values` is `[len(mapped_keys), width]`, padded with -1.
    """
    classes = np.zeros(_MAX_CODE_POINT, np.int8)
    mapped = {}
    cjk = np.zeros(_MAX_CODE_POINT, bool)
    for lo, hi in _CJK_RANGES:
        cjk[lo : hi + 1] = True
    args = (clean_text, handle_chinese_chars, strip_accents, lowercase, pretokenize)
    category = unicodedata.category
    is_nfd = functools.partial(unicodedata.is_normalized, "NFD")
    for cp in range(_MAX_CODE_POINT):
        ch = chr(cp)
        cat = category(ch)
        # Fast paths (the full rule below gives the same answer, slower).
        if handle_chinese_chars and cjk[cp]:
            if not strip_accents or is_nfd(ch):  # all but the compatibility ideographs
                classes[cp] = _ISOLATE
                continue
        elif cp != 0xFFFD and (
            cat == "Cn"  # unassigned: kept as is by every step
            or (
                cat[0] in "LNS"  # letters/numbers/symbols with nothing to strip, lowercase or split
                and not (strip_accents and not is_nfd(ch))
                and not (lowercase and ch.lower() != ch)
                and not (pretokenize and cp < 128 and _is_punctuation(ch))
            )
        ):
            continue
        out = _map_code_point(cp, *args)
        if len(out) == 1 and ord(out) == cp:
            continue
        if out == "":
            classes[cp] = _DROP
        elif out == " ":
            classes[cp] = _SPACE
        elif out == " " + chr(cp) + " ":
            classes[cp] = _ISOLATE
        else:
            classes[cp] = _MAPPED
            mapped[cp] = [ord(c) for c in out]
    run_starts = np.concatenate([[0], np.flatnonzero(np.diff(classes)) + 1]).astype(np.int32)
    run_classes = classes[run_starts].astype(np.int32)
    keys = np.array(sorted(mapped), np.int32)
    width = max([3] + [len(v) for v in mapped.values()])
    values = np.full((max(len(keys), 1), width), _PAD, np.int32)
    for i, cp in enumerate(keys):
        values[i, : len(mapped[cp])] = mapped[cp]
    if not len(keys):
        keys = np.array([-1], np.int32)
    return run_starts, run_classes, keys, values


class CodePointMapper(tf.Module):
    """Applies Hugging Face's BERT normalization (+ pre-tokenizer spacing) in-graph.

    The output string has words separated by single or repeated ASCII spaces
    (whitespace is mapped to " ", punctuation and CJK ideographs get a space on
    each side), so `tf.strings.split` yields exactly Hugging Face's
    pre-tokenized words.
    """

    def __init__(
        self,
        *,
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=False,
        lowercase=False,
        pretokenize=True,
        name=None,
    ):
        super().__init__(name=name)
        starts, classes, keys, values = _code_point_table(
            bool(clean_text), bool(handle_chinese_chars), bool(strip_accents), bool(lowercase), bool(pretokenize)
        )
        width = values.shape[1]
        templates = np.full((5, width), _PAD, np.int32)
        templates[_IDENTITY, 0] = _SELF
        templates[_SPACE, 0] = 32
        templates[_ISOLATE, :3] = [32, _SELF, 32]
        self._run_starts = tf.constant(starts)
        self._run_classes = tf.constant(classes)
        self._mapped_keys = tf.constant(keys)
        self._mapped_values = tf.constant(values)
        self._templates = tf.constant(templates)

    @tf.autograph.experimental.do_not_convert
    def __call__(self, strings):
        """Maps a 1-D tf.string tensor to its normalized form (same shape)."""
        chars = tf.strings.unicode_decode(strings, "UTF-8", errors="replace", replacement_char=0xFFFD)
        cps = chars.flat_values
        run = tf.searchsorted(self._run_starts, cps, side="right") - 1
        cls = tf.gather(self._run_classes, run)
        rows = tf.gather(self._templates, cls)
        rows = tf.where(rows == _SELF, cps[:, None], rows)
        slot = tf.searchsorted(self._mapped_keys, cps, side="left")
        slot = tf.minimum(slot, tf.shape(self._mapped_keys, out_type=slot.dtype)[0] - 1)
        rows = tf.where((cls == _MAPPED)[:, None], tf.gather(self._mapped_values, slot), rows)
        keep = rows >= 0
        per_char = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
        lengths = tf.reduce_sum(chars.with_flat_values(per_char), axis=1)
        out = tf.RaggedTensor.from_row_lengths(tf.boolean_mask(rows, keep), lengths, validate=False)
        return tf.strings.unicode_encode(out, "UTF-8")


# ---------------------------------------------------------------------------
# Vocabulary files


def read_vocabulary(path):
    """Reads a WordPiece vocab.txt the way Hugging Face does (one token a line).

    Hugging Face strips trailing whitespace from each line; a final newline does
    not start an extra (empty) token.
    """
    path = fileio.as_path(path)
    try:
        text = fileio.read_bytes(path).decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"WordPiece vocabulary file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise UserInputError(f"WordPiece vocabulary {path} is not UTF-8: {e}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [_rstrip_white_space(line) for line in lines]


def _rstrip_white_space(text):
    end = len(text)
    while end and ord(text[end - 1]) in _WHITE_SPACE:
        end -= 1
    return text[:end]


def _re2_escape(text):
    """Literal RE2 pattern for `text` (ASCII non-alphanumerics as \\x escapes)."""
    return "".join(c if ord(c) > 127 or c.isalnum() else f"\\x{ord(c):02x}" for c in text)


def _token_content(value):
    """tokenizer_config.json stores special tokens as a string or an AddedToken dict."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _read_json(path):
    data = fileio.read_json(path)
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


class WordPieceTokenizer(tf.Module):
    """Strings -> WordPiece ids, identical to Hugging Face's BERT tokenizer.

    Args:
        vocabulary: path to a vocab.txt (one token a line) or a list of tokens.
        lower_case: lowercase the text (Hugging Face `do_lower_case`).
        strip_accents: NFD + drop non-spacing marks. `None` follows
            `lower_case`, as Hugging Face does.
        tokenize_chinese_chars: put spaces around CJK ideographs.
        clean_text: drop NUL, U+FFFD and control/format characters; map
            whitespace to spaces.
        unk_token, cls_token, sep_token, pad_token, mask_token: special tokens.
        suffix_indicator: WordPiece continuation prefix.
        max_chars_per_word: words longer than this (in characters, after
            normalization) become `unk_token`.
        split_special_tokens: if False (Hugging Face's default), special tokens
            written literally in the text (e.g. "[SEP]") map to their ids
            instead of being tokenized as text.
        added_tokens: extra literal tokens (already in the vocabulary) to match
            the same way, e.g. a tokenizer.json's non-normalized added tokens.
    """

    def __init__(
        self,
        vocabulary,
        *,
        lower_case,
        strip_accents=None,
        tokenize_chinese_chars=True,
        clean_text=True,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        suffix_indicator="##",
        max_chars_per_word=100,
        split_special_tokens=False,
        added_tokens=(),
        name=None,
    ):
        super().__init__(name=name)
        if isinstance(vocabulary, (str, os.PathLike)):
            self.vocab_path = os.fspath(vocabulary)
            tokens = read_vocabulary(vocabulary)
            source = self.vocab_path
        else:
            self.vocab_path = None
            tokens = [str(t) for t in vocabulary]
            source = "the vocabulary list"
        if not tokens:
            raise UserInputError(f"WordPiece vocabulary from {source} is empty")
        if max_chars_per_word < 1:
            raise ValueError(f"max_chars_per_word must be >= 1, got {max_chars_per_word}")
        self.lower_case = bool(lower_case)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.clean_text = bool(clean_text)
        self.unk_token = unk_token
        self.cls_token = cls_token
        self.sep_token = sep_token
        self.pad_token = pad_token
        self.mask_token = mask_token
        self.suffix_indicator = suffix_indicator
        self.max_chars_per_word = int(max_chars_per_word)
        self.split_special_tokens = bool(split_special_tokens)
        self.added_tokens = tuple(added_tokens)

        # Hugging Face builds a token -> id dict, so a repeated token gets its
        # last id. Earlier copies (and empty lines) are replaced by strings that
        # contain a space and therefore can never match a word.
        ids = {}
        for i, token in enumerate(tokens):
            ids[token] = i
        matchable = [t if t and ids[t] == i else f" <unused {i}>" for i, t in enumerate(tokens)]
        # Python containers are kept out of tf.Module/AutoTrackable tracking,
        # which would wrap and walk them (slow for 30k-token vocabularies).
        self._token_to_id_holder = _Opaque(ids)
        self._vocab_holder = _Opaque(tuple(tokens))

        if unk_token not in ids:
            raise UserInputError(f"unk_token {unk_token!r} is not in the vocabulary ({source})")
        special = {}
        for key, token in (
            ("cls_id", cls_token),
            ("sep_id", sep_token),
            ("pad_id", pad_token),
            ("unk_id", unk_token),
            ("mask_id", mask_token),
        ):
            if token is not None and token not in ids and key != "mask_id":
                raise UserInputError(f"{key[:-3]}_token {token!r} is not in the vocabulary ({source})")
            special[key] = ids.get(token) if token is not None else None
        self._special_token_ids = _Opaque(special)

        resolved_strip = self.lower_case if self.strip_accents is None else self.strip_accents
        self._mapper = CodePointMapper(
            clean_text=self.clean_text,
            handle_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=resolved_strip,
            lowercase=self.lower_case,
            pretokenize=True,
        )
        # FastWordpiece counts its word limit in bytes; the character limit is
        # enforced separately, so allow every word of <= max_chars characters.
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=matchable,
            suffix_indicator=suffix_indicator,
            max_bytes_per_word=4 * self.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=unk_token,
            no_pretokenization=True,
        )
        literal = [] if self.split_special_tokens else self._literal_tokens()
        # Longest first = Hugging Face's leftmost-longest match.
        literal = sorted(set(literal), key=lambda t: (-len(t), t))
        self._literal_pattern = "|".join(_re2_escape(t) for t in literal) or None
        if self.vocab_path is not None:
            # Lets a SavedModel carry the vocabulary file as an asset.
            self.vocab_file = tf.saved_model.Asset(self.vocab_path)

    def _literal_tokens(self):
        tokens = [self.unk_token, self.cls_token, self.sep_token, self.pad_token, self.mask_token]
        tokens += list(self.added_tokens)
        return [t for t in tokens if t and t in self._token_to_id_holder.value]

    @classmethod
    def from_pretrained(cls, path, **overrides):
        """Builds the tokenizer a Hugging Face BERT-style directory describes.

        Settings are read from tokenizer.json (normalizer, WordPiece model,
        added tokens), then tokenizer_config.json (which transformers lets win
        over tokenizer.json), then `overrides`. The vocabulary is vocab.txt, or
        the WordPiece vocab inside tokenizer.json when there is no vocab.txt.
        """
        path = fileio.as_path(path)
        if not fileio.isdir(path):
            raise FileNotFoundError(f"not a directory: {path}")
        settings = {}
        vocabulary = None
        tok_json = fileio.join(path, "tokenizer.json")
        if fileio.exists(tok_json):
            data = _read_json(tok_json)
            model = data.get("model") or {}
            if model.get("type") not in (None, "WordPiece"):
                raise UserInputError(f"{tok_json}: model type {model.get('type')!r} is not WordPiece")
            settings.update(_settings_from_normalizer(data.get("normalizer"), tok_json))
            if "unk_token" in model:
                settings["unk_token"] = model["unk_token"]
            if "continuing_subword_prefix" in model:
                settings["suffix_indicator"] = model["continuing_subword_prefix"]
            if "max_input_chars_per_word" in model:
                settings["max_chars_per_word"] = model["max_input_chars_per_word"]
            added = [
                t["content"]
                for t in data.get("added_tokens") or []
                if not t.get("normalized", False) and not t.get("single_word", False)
            ]
            settings["added_tokens"] = tuple(added)
            if isinstance(model.get("vocab"), dict):
                vocabulary = _vocab_list_from_dict(model["vocab"], tok_json)
        config_json = fileio.join(path, "tokenizer_config.json")
        if fileio.exists(config_json):
            config = _read_json(config_json)
            if "do_lower_case" in config:
                settings["lower_case"] = config["do_lower_case"]
            if "strip_accents" in config:
                settings["strip_accents"] = config["strip_accents"]
            if "tokenize_chinese_chars" in config:
                settings["tokenize_chinese_chars"] = config["tokenize_chinese_chars"]
            for key in ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token"):
                if config.get(key) is not None:
                    settings[key] = _token_content(config[key])
        if fileio.exists(fileio.join(path, "vocab.txt")):
            vocabulary = fileio.join(path, "vocab.txt")
        if vocabulary is None:
            raise FileNotFoundError(f"{path} has neither vocab.txt nor a WordPiece tokenizer.json")
        settings.setdefault("lower_case", False)
        settings.update(overrides)
        return cls(vocabulary, **settings)

    @property
    def special_token_ids(self):
        """`{"cls_id", "sep_id", "pad_id", "unk_id", "mask_id"}` -> int (mask_id may be None)."""
        return dict(self._special_token_ids.value)

    @property
    def vocabulary(self):
        """The tokens, indexed by id."""
        return list(self._vocab_holder.value)

    @property
    def vocab_size(self):
        return len(self._vocab_holder.value)

    def id_to_token(self, i):
        return self._vocab_holder.value[i]

    def token_to_id(self, token):
        return self._token_to_id_holder.value.get(token)

    def save_vocabulary(self, directory, filename="vocab.txt"):
        """Writes the vocabulary (one token a line) and returns the file path."""
        out = fileio.join(directory, filename)
        fileio.write_text(out, "".join(token + "\n" for token in self._vocab_holder.value))
        return out

    def get_config(self):
        return {
            "lower_case": self.lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "clean_text": self.clean_text,
            "unk_token": self.unk_token,
            "cls_token": self.cls_token,
            "sep_token": self.sep_token,
            "pad_token": self.pad_token,
            "mask_token": self.mask_token,
            "suffix_indicator": self.suffix_indicator,
            "max_chars_per_word": self.max_chars_per_word,
            "split_special_tokens": self.split_special_tokens,
            "added_tokens": list(self.added_tokens),
        }

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, strings):
        """tf.string `[batch]` -> int32 RaggedTensor `[batch, (pieces)]`, no special tokens.

        A scalar string gives a 1-D int32 tensor.
        """
        strings = tf.convert_to_tensor(strings, tf.string)
        if strings.shape.rank == 0:
            return self.tokenize(strings[tf.newaxis])[0]
        if strings.shape.rank != 1:
            raise ValueError(f"tokenize expects a string scalar or vector, got shape {strings.shape}")
        if self._literal_pattern:
            # Special tokens in the raw text are matched before normalization.
            # Each match is fenced with 0xFF bytes, which valid UTF-8 never
            # holds, and split there. (tf_text.regex_split would be shorter but
            # stops at the first NUL character.)
            valid = tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
            fenced = tf.strings.regex_replace(valid, self._literal_pattern, b"\xff\\0\xff")
            parts = tf.strings.split(fenced, sep=b"\xff")
            flat = parts.flat_values
            is_literal = tf.strings.regex_full_match(flat, self._literal_pattern)
            normalized = tf.where(is_literal, flat, self._mapper(flat))
        else:
            parts = None
            normalized = self._mapper(strings)
        words = tf.strings.split(normalized)
        flat_words = words.flat_values
        too_long = tf.strings.length(flat_words, unit="UTF8_CHAR") > self.max_chars_per_word
        flat_words = tf.where(too_long, self.unk_token, flat_words)
        pieces = self._wordpiece.tokenize(flat_words)
        # Regroup pieces per input string: composing row splits is the cheap
        # form of RaggedTensor.merge_dims.
        splits = tf.gather(pieces.row_splits, words.row_splits)
        if parts is not None:
            splits = tf.gather(splits, parts.row_splits)
        return tf.RaggedTensor.from_row_splits(pieces.values, splits, validate=False)

    def __call__(self, strings):
        return self.tokenize(strings)


class _Opaque:
    """Holds a Python value without tf.Module / AutoTrackable wrapping it."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _settings_from_normalizer(normalizer, source):
    if not normalizer:
        return {}
    kind = normalizer.get("type")
    if kind == "BertNormalizer":
        return {
            "clean_text": normalizer.get("clean_text", True),
            "tokenize_chinese_chars": normalizer.get("handle_chinese_chars", True),
            "strip_accents": normalizer.get("strip_accents"),
            "lower_case": normalizer.get("lowercase", True),
        }
    raise UserInputError(
        f"{source}: normalizer {kind!r} is not supported (only BertNormalizer); "
        "pass lower_case/strip_accents explicitly and remove the normalizer to proceed"
    )


def _vocab_list_from_dict(vocab, source):
    size = max(vocab.values()) + 1 if vocab else 0
    tokens = [None] * size
    for token, i in vocab.items():
        tokens[i] = token
    missing = [i for i, t in enumerate(tokens) if t is None]
    if missing:
        raise UserInputError(f"{source}: WordPiece vocab has no token for ids {missing[:10]}")
    return tokens
