"""In-graph byte-level BPE (GPT-2 / RoBERTa `vocab.json` + `merges.txt`), identical to Hugging Face `tokenizers`.

The steps of `tokenizers`' ByteLevel pre-tokenizer and BPE model, each as TensorFlow ops on constant tables:

1. Added tokens (`<s>`, `<mask>`, ...) written in the text are matched first and map to their ids (HF's default
   `split_special_tokens=False`); `lstrip` / `rstrip` tokens absorb the whitespace beside them. The text between
   them is tokenized piece by piece.
2. `add_prefix_space` puts a space before a piece that does not start with one.
3. GPT-2's split regex, `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`, is applied
   as the token boundaries it implies on classified code points (RE2 has no look-ahead): runs of letters, of
   numbers and of other non-space characters are words; one ASCII space before a run joins it; a whitespace run
   followed by a word gives its last character to that word if it is a space, or as a word of its own
   otherwise, and the rest of the run is one word; a contraction starts a word only where a word would start.
   Letters are Unicode categories L*, numbers N*, whitespace the White_Space property, as Oniguruma (which
   `tokenizers` uses) classifies them.
4. Each word's UTF-8 bytes become the vocabulary ids of GPT-2's byte-to-character map, then merges apply in
   `tokenizers`' order: repeatedly the adjacent pair of lowest merge rank, leftmost first, in a
   `tf.while_loop` over all words of the batch at once.

keras-hub's `BytePairTokenizer` is not used: in graph mode (its only in-graph path; eagerly it calls `tokenizers`)
it emulates the regex's look-ahead by inserting U+096C and later deletes every U+096C, and its regex split stops
at a NUL character. Measured with the vocabulary of tests/preprocessing/byte_level_bpe_test.py: those two inputs
differ from `tokenizers`, the real sentences and the other edge cases do not.

Known residual differences from `tokenizers` (0.23, Python 3.11):
* Code points assigned after Unicode 14 (Python 3.11's `unicodedata`) are classified by the table below, taken
  from `tokenizers` 0.23 by running every code point through its pre-tokenizer; later Unicode additions follow
  `unicodedata`.
* Invalid UTF-8 bytes decode to U+FFFD (a Python `str` given to Hugging Face cannot hold them).
* Options `tokenizers` has but byte-level vocabularies of RoBERTa / GPT-2 do not use are refused with an error
  (`ignore_merges`, `continuing_subword_prefix`, `end_of_word_suffix`, `fuse_unk`, BPE dropout, a normalizer), and
  added tokens with `single_word=True` are not matched.
"""

import json
import os
import unicodedata

import numpy as np
import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.preprocessing.wordpiece import _WHITE_SPACE, _Opaque, _parse_ranges, _re2_escape

VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"

# Code point classes of GPT-2's regex.
_OTHER, _LETTER, _NUMBER, _SPACE = range(4)
_APOSTROPHE = ord("'")

# Letters and numbers of Unicode 15-16 that Python 3.11's `unicodedata` (Unicode 14) leaves unassigned, as
# `tokenizers` 0.23 classifies them (measured on every code point; no other code point differs).
_NEW_LETTERS = _parse_ranges(
    "1C89-1C8A A7CB-A7CD A7DA-A7DC 105C0-105F3 10D4A-10D65 10D6F-10D85 10EC2-10EC4 1123F-11240 11380-11389 "
    "1138B 1138E 11390-113B5 113B7 113D1 113D3 11BC0-11BE0 11F02 11F04-11F10 11F12-11F33 1342F 13441-13446 "
    "13460-143FA 16100-1611D 16D40-16D6C 18CFF 1B132 1B155 1DF25-1DF2A 1E030-1E06D 1E4D0-1E4EB 1E5D0-1E5ED "
    "1E5F0 2B739 2EBF0-2EE5D 31350-323AF"
)
_NEW_NUMBERS = _parse_ranges(
    "10D40-10D49 116D0-116E3 11BF0-11BF9 11F50-11F59 16130-16139 16D70-16D79 1CCF0-1CCF9 1D2C0-1D2D3 "
    "1E4F0-1E4F9 1E5F1-1E5FA"
)
# Contractions of the regex, after the apostrophe (tried in this order; none is a prefix of another).
_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")
_NO_MERGE = np.iinfo(np.int64).max


def bytes_to_unicode():
    """GPT-2's map of the 256 byte values to printable characters (the alphabet of byte-level vocabularies)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def _class_runs():
    """Run-length table `(run_starts, run_classes)` of the regex class of every code point."""
    classes = np.zeros(0x110000, np.int8)
    for cp in range(0x110000):
        category = unicodedata.category(chr(cp))
        if category[0] == "L":
            classes[cp] = _LETTER
        elif category[0] == "N":
            classes[cp] = _NUMBER
    classes[sorted(_NEW_LETTERS)] = _LETTER
    classes[sorted(_NEW_NUMBERS)] = _NUMBER
    classes[sorted(_WHITE_SPACE)] = _SPACE
    starts = np.concatenate([[0], np.flatnonzero(np.diff(classes)) + 1]).astype(np.int32)
    return starts, classes[starts].astype(np.int32)


_CLASS_RUNS = None


def _class_table():
    global _CLASS_RUNS
    if _CLASS_RUNS is None:
        _CLASS_RUNS = _class_runs()
    return _CLASS_RUNS


# -------------------------------------------------------------------------------------------------------------
# Files


def read_vocab_json(path):
    """`{token: id}` of a vocab.json."""
    try:
        vocab = json.loads(fileio.read_bytes(path).decode("utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"BPE vocabulary file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a valid vocab.json: {e}") from None
    _check_vocab(vocab, path)
    return vocab


def _check_vocab(vocab, source):
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(f"{source}: expected a non-empty JSON object of token -> id")
    for token, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ValueError(f"{source}: token {token!r} has id {i!r}, not a non-negative integer")


def read_merges(path):
    """The merge pairs of a merges.txt, in rank order, read as `tokenizers` does.

    Lines starting with `#version` are skipped; every other line must be two tokens separated by one space.
    """
    try:
        text = fileio.read_bytes(path).decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"BPE merges file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8: {e}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    merges = []
    for line_number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{path}: line {line_number}: expected two tokens separated by one space, got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


# -------------------------------------------------------------------------------------------------------------
# The tokenizer


class ByteLevelBPETokenizer(tf.Module):
    """Strings -> byte-level BPE ids, identical to Hugging Face `tokenizers` (RoBERTa, GPT-2 vocabularies).

    Args:
        vocabulary: path to a vocab.json, or a `{token: id}` dict.
        merges: path to a merges.txt, or a list of `(left, right)` token pairs in rank order.
        add_prefix_space: put a space before text that does not start with one (HF's ByteLevel option;
            RoBERTa checkpoints have it off).
        cls_token, sep_token, pad_token, unk_token, mask_token: special tokens (RoBERTa's by default). cls, sep
            and pad must be in the vocabulary; unk_token is also what a byte missing from it maps to (dropped
            when there is no unk token, as `tokenizers` does).
        added_tokens: tokens matched literally in the text before BPE: strings, or dicts with `content` and
            optionally `id` (when not in the vocabulary), `lstrip`, `rstrip` (absorb the whitespace on that
            side, as RoBERTa's tokenizer.json sets for `<mask>`). The special tokens are always matched, without
            stripping unless listed here (transformers 5 reads a directory without tokenizer.json that way).
        split_special_tokens: tokenize special and added tokens written in the text as text instead.
    """

    def __init__(
        self,
        vocabulary,
        merges,
        *,
        add_prefix_space=False,
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        added_tokens=(),
        split_special_tokens=False,
        name=None,
    ):
        super().__init__(name=name)
        if isinstance(vocabulary, (str, os.PathLike)):
            self.vocab_path = os.fspath(vocabulary)
            vocab = read_vocab_json(self.vocab_path)
            source = self.vocab_path
        else:
            self.vocab_path = None
            vocab = dict(vocabulary)
            source = "the vocabulary dict"
            _check_vocab(vocab, source)
        if isinstance(merges, (str, os.PathLike)):
            self.merges_path = os.fspath(merges)
            merge_pairs = read_merges(self.merges_path)
        else:
            self.merges_path = None
            merge_pairs = [tuple(m.split(" ") if isinstance(m, str) else m) for m in merges]
        self.add_prefix_space = bool(add_prefix_space)
        self.split_special_tokens = bool(split_special_tokens)
        self.cls_token, self.sep_token, self.pad_token = cls_token, sep_token, pad_token
        self.unk_token, self.mask_token = unk_token, mask_token

        added = [_added_token(t) for t in added_tokens]
        ids = dict(vocab)
        for token in added:
            if token.get("id") is not None:
                ids.setdefault(token["content"], int(token["id"]))
            elif token["content"] not in ids:
                raise ValueError(f"added token {token['content']!r} is neither in {source} nor given an id")
        self.added_tokens = tuple(added)
        tokens = {}
        for token, i in ids.items():
            tokens.setdefault(i, token)
        self._ids = _Opaque(ids)
        self._tokens = _Opaque(tokens)
        self._vocab = _Opaque(dict(vocab))
        self._merges = _Opaque(tuple(merge_pairs))

        special = {}
        for key, token in (("cls", cls_token), ("sep", sep_token), ("pad", pad_token), ("unk", unk_token),
                           ("mask", mask_token)):
            if token is not None and token not in ids and key in ("cls", "sep", "pad"):
                raise ValueError(f"{key}_token {token!r} is not in the vocabulary ({source})")
            special[f"{key}_id"] = ids.get(token) if token is not None else None
        self._special_token_ids = _Opaque(special)

        size = max(ids.values()) + 1
        # Initial symbols: the id of each byte's character (-2 where the vocabulary lacks it).
        chars = bytes_to_unicode()
        self._byte_ids = tf.constant([vocab.get(chars[b], -2) for b in range(256)], tf.int32)
        # Merges: (left id, right id) -> rank << 32 | merged id. A repeated pair keeps its last rank, as in
        # `tokenizers` (its merge map is built by inserting in order).
        table = {}
        for rank, (left, right) in enumerate(merge_pairs):
            for part in (left, right, left + right):
                if part not in vocab:
                    raise ValueError(
                        f"{self.merges_path or 'merges'}: merge {rank + 1} ({left!r} {right!r}): {part!r} is not in "
                        f"the vocabulary ({source})"
                    )
            table[vocab[left] * size + vocab[right]] = (rank << 32) | vocab[left + right]
        keys = np.array(list(table) or [-1], np.int64)
        values = np.array(list(table.values()) or [-1], np.int64)
        self._size = size
        self._merge_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), -1)
        starts, classes = _class_table()
        self._run_starts = tf.constant(starts)
        self._run_classes = tf.constant(classes)
        self._literals = self._literal_patterns()
        if self.vocab_path is not None:
            self.vocab_file = tf.saved_model.Asset(self.vocab_path)
        if self.merges_path is not None:
            self.merges_file = tf.saved_model.Asset(self.merges_path)

    def _literal_patterns(self):
        """`[(RE2 pattern, id)]` of the tokens matched in the raw text, longest first."""
        if self.split_special_tokens:
            return []
        options = {t["content"]: t for t in self.added_tokens}
        for key in ("cls", "sep", "pad", "unk", "mask"):
            token = getattr(self, f"{key}_token")
            if token is not None and token in self._ids.value and token not in options:
                options[token] = {"content": token}
        white = "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(_WHITE_SPACE)) + "]*"
        patterns = []
        for content in sorted(options, key=lambda t: (-len(t), t)):
            option = options[content]
            if option.get("single_word") or not content:
                continue
            pattern = (white if option.get("lstrip") else "") + _re2_escape(content)
            pattern += white if option.get("rstrip") else ""
            patterns.append((pattern, self._ids.value[content]))
        return patterns

    @classmethod
    def from_pretrained(cls, path, **overrides):
        """Builds the tokenizer a Hugging Face RoBERTa / GPT-2-style directory describes.

        The vocabulary and merges are vocab.json + merges.txt, or the BPE model inside tokenizer.json. Settings
        come from tokenizer.json (ByteLevel pre-tokenizer, added tokens), then tokenizer_config.json
        (`add_prefix_space`, special tokens), then `overrides`.
        """
        path = fileio.as_path(path)
        settings = {}
        vocabulary, merges = None, None
        tok_json = fileio.join(path, "tokenizer.json")
        if fileio.exists(tok_json):
            data = _read_json(tok_json)
            model = data.get("model") or {}
            _check_supported(data, model, tok_json)
            byte_level = _byte_level(data.get("pre_tokenizer"), tok_json)
            settings["add_prefix_space"] = bool(byte_level.get("add_prefix_space", False))
            settings["added_tokens"] = [
                {k: t[k] for k in ("content", "id", "lstrip", "rstrip", "single_word") if k in t}
                for t in data.get("added_tokens") or []
            ]
            if model.get("unk_token") is not None:
                settings["unk_token"] = model["unk_token"]
            if isinstance(model.get("vocab"), dict):
                vocabulary = model["vocab"]
                merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges") or []]
        config_json = fileio.join(path, "tokenizer_config.json")
        if fileio.exists(config_json):
            config = _read_json(config_json)
            if "add_prefix_space" in config:
                settings["add_prefix_space"] = bool(config["add_prefix_space"])
            for key in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token"):
                value = config.get(key)
                value = value.get("content") if isinstance(value, dict) else value
                if value is not None:
                    settings[key] = value
        if has_vocab_and_merges(path):
            vocabulary, merges = fileio.join(path, VOCAB_FILE), fileio.join(path, MERGES_FILE)
        if vocabulary is None:
            raise FileNotFoundError(f"{path} has neither vocab.json + merges.txt nor a BPE tokenizer.json")
        settings.update(overrides)
        return cls(vocabulary, merges, **settings)

    # -- properties --------------------------------------------------------------------------------

    @property
    def special_token_ids(self):
        """`{"cls_id", "sep_id", "pad_id", "unk_id", "mask_id"}` -> int (unk/mask may be None)."""
        return dict(self._special_token_ids.value)

    @property
    def vocab_size(self):
        return self._size

    def id_to_token(self, i):
        return self._tokens.value[i]

    def token_to_id(self, token):
        return self._ids.value.get(token)

    def save_vocabulary(self, directory, filename=VOCAB_FILE):
        """Writes vocab.json and merges.txt into `directory`; returns the vocab.json path."""
        out = fileio.join(directory, filename)
        fileio.write_text(out, json.dumps(self._vocab.value, ensure_ascii=False))
        merges = "".join(f"{left} {right}\n" for left, right in self._merges.value)
        fileio.write_text(fileio.join(directory, MERGES_FILE), "#version: 0.2\n" + merges)
        return out

    def get_config(self):
        return {
            "add_prefix_space": self.add_prefix_space,
            "cls_token": self.cls_token,
            "sep_token": self.sep_token,
            "pad_token": self.pad_token,
            "unk_token": self.unk_token,
            "mask_token": self.mask_token,
            "added_tokens": [dict(t) for t in self.added_tokens],
            "split_special_tokens": self.split_special_tokens,
        }

    # -- strings -> ids -------------------------------------------------------------------------------

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, strings):
        """tf.string `[batch]` -> int32 RaggedTensor `[batch, (pieces)]`, no special tokens added.

        A scalar string gives a 1-D int32 tensor.
        """
        strings = tf.convert_to_tensor(strings, tf.string)
        if strings.shape.rank == 0:
            return self.tokenize(strings[tf.newaxis])[0]
        if strings.shape.rank != 1:
            raise ValueError(f"tokenize expects a string scalar or vector, got shape {strings.shape}")
        valid = tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        if not self._literals:
            return self._tokenize_text(valid)
        # Added tokens are fenced with 0xFF bytes, which valid UTF-8 never holds, and split there (see
        # WordPieceTokenizer.tokenize).
        either = "|".join(pattern for pattern, _ in self._literals)
        parts = tf.strings.split(tf.strings.regex_replace(valid, either, b"\xff\\0\xff"), sep=b"\xff")
        flat = parts.flat_values
        literal_id = tf.fill(tf.shape(flat), -1)
        for pattern, token_id in reversed(self._literals):  # the longest pattern decides last
            literal_id = tf.where(tf.strings.regex_full_match(flat, pattern), token_id, literal_id)
        is_literal = literal_id >= 0
        pieces = self._tokenize_text(tf.where(is_literal, "", flat))
        literal = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(literal_id, is_literal), tf.cast(is_literal, tf.int64), validate=False
        )
        per_part = tf.concat([literal, pieces], axis=1)
        splits = tf.gather(per_part.row_splits, parts.row_splits)
        return tf.RaggedTensor.from_row_splits(per_part.values, splits, validate=False)

    def _tokenize_text(self, texts):
        """Pre-tokenization + BPE of text without added tokens: `[n]` strings -> int32 `[n, (ids)]`."""
        if self.add_prefix_space:  # empty text stays empty, as in `tokenizers`
            needs = (tf.strings.length(texts) > 0) & ~tf.strings.regex_full_match(texts, "(?s) .*")
            texts = tf.where(needs, tf.strings.join([" ", texts]), texts)
        chars = tf.strings.unicode_decode(texts, "UTF-8", errors="replace", replacement_char=0xFFFD)
        chars = chars.with_row_splits_dtype(tf.int64)
        words = _split_words(chars, self._run_starts, self._run_classes)  # [n, (words), (code points)]
        word_bytes = _utf8_bytes(words.values)  # [words, (bytes)]
        symbols = tf.gather(self._byte_ids, word_bytes.values)
        merged = self._merge(tf.RaggedTensor.from_row_splits(symbols, word_bytes.row_splits, validate=False))
        unk_id = self.special_token_ids["unk_id"]
        if unk_id is not None:
            merged = tf.ragged.map_flat_values(lambda x: tf.where(x == -2, unk_id, x), merged)
        else:
            merged = tf.ragged.boolean_mask(merged, merged.with_flat_values(merged.flat_values >= 0))
        splits = tf.gather(merged.row_splits, words.row_splits)
        return tf.RaggedTensor.from_row_splits(merged.values, splits, validate=False)

    def _merge(self, words):
        """Applies the merges to ragged `[words, (symbol ids)]`: the lowest-ranked pair, leftmost first."""
        # A column of -1 (padding) at the end keeps every row at width >= 2.
        dense = tf.concat([words.to_tensor(default_value=-1), tf.fill([words.nrows(), 1], -1)], axis=1)
        size = tf.constant(self._size, tf.int64)

        def step(dense, _):
            left, right = tf.cast(dense[:, :-1], tf.int64), tf.cast(dense[:, 1:], tf.int64)
            found = self._merge_table.lookup(tf.where((left >= 0) & (right >= 0), left * size + right, -1))
            rank = tf.where(found >= 0, tf.bitwise.right_shift(found, 32), _NO_MERGE)
            position = tf.argmin(rank, axis=1, output_type=tf.int32)  # the first of equal ranks: leftmost
            best = tf.gather(found, position[:, tf.newaxis], batch_dims=1)[:, 0]
            active = best >= 0
            merged_id = tf.cast(tf.bitwise.bitwise_and(best, 0xFFFFFFFF), tf.int32)
            # Row r: the pair at p becomes one symbol at p; columns after p + 1 shift left by one.
            columns = tf.range(tf.shape(dense)[1])[tf.newaxis, :]
            p = tf.where(active, position, tf.shape(dense)[1])[:, tf.newaxis]
            source = tf.minimum(tf.where(columns > p, columns + 1, columns), tf.shape(dense)[1] - 1)
            shifted = tf.gather(dense, source, batch_dims=1)
            shifted = tf.where(columns == tf.shape(dense)[1] - 1, -1, shifted)  # the freed last column
            shifted = tf.where(active[:, tf.newaxis], shifted, dense)
            return tf.where(columns == p, merged_id[:, tf.newaxis], shifted), tf.reduce_any(active)

        dense, _ = tf.while_loop(
            lambda dense, go: go,
            step,
            [dense, tf.constant(True)],
            shape_invariants=[tf.TensorShape([None, None]), tf.TensorShape([])],
        )
        return tf.RaggedTensor.from_tensor(dense, padding=-1).with_row_splits_dtype(tf.int64)

    def __call__(self, strings):
        return self.tokenize(strings)


def _split_words(chars, run_starts, run_classes):
    """GPT-2's regex split of code points `[n, (chars)]` into words `[n, (words), (chars)]` (module notes)."""
    cps = chars.values
    count = tf.shape(cps, out_type=tf.int64)[0]
    index = tf.range(count)
    nonempty = chars.row_lengths() > 0
    limit = tf.repeat(chars.row_limits(), chars.row_lengths())  # per code point: the end of its row

    def flags(positions):
        positions = positions[:, tf.newaxis]
        return tf.scatter_nd(positions, tf.ones_like(positions[:, 0], tf.bool), [count])

    row_start = flags(tf.boolean_mask(chars.row_starts(), nonempty))
    row_end = flags(tf.boolean_mask(chars.row_limits() - 1, nonempty))
    outside = tf.constant(-1, tf.int32)
    cls = tf.gather(run_classes, tf.searchsorted(run_starts, cps, side="right") - 1)
    prev_cls = tf.where(row_start, outside, tf.concat([[outside], cls[:-1]], 0))
    next_cls = tf.where(row_end, outside, tf.concat([cls[1:], [outside]], 0))
    prev_cp = tf.where(row_start, outside, tf.concat([[outside], cps[:-1]], 0))
    # A word takes the space before it; a whitespace run before a word ends with a word of its last character.
    takes_space = (prev_cls == _SPACE) & (prev_cp == ord(" ")) & (cls != _SPACE)
    last_of_run = (cls == _SPACE) & (prev_cls == _SPACE) & (next_cls != _SPACE) & (next_cls != outside)
    start = row_start | ((cls != prev_cls) & ~takes_space) | last_of_run

    # Contractions: a word starting with an apostrophe followed by s|t|m|d (2 characters) or re|ve|ll (3).
    def ahead(k):
        return tf.where(index + k < limit, tf.concat([cps[k:], tf.fill([k], outside)], 0), outside)

    one, two = ahead(1), ahead(2)
    short = tf.reduce_any(tf.stack([one == ord(c) for c in _CONTRACTIONS if len(c) == 1]), axis=0)
    long = tf.reduce_any(
        tf.stack([(one == ord(c[0])) & (two == ord(c[1])) for c in _CONTRACTIONS if len(c) == 2]), axis=0
    )
    apostrophe = start & (cps == _APOSTROPHE)
    length = tf.where(apostrophe & long, 3, tf.where(apostrophe & short, 2, 0))
    # No word starts inside a contraction; one always starts right after it (unless the row ends there).
    begins = tf.boolean_mask(index, length > 0)
    ends = begins + tf.cast(tf.boolean_mask(length, length > 0), tf.int64)
    inside = tf.ragged.range(begins + 1, ends).values
    after = tf.boolean_mask(ends, ends < tf.gather(limit, begins))
    start = tf.tensor_scatter_nd_update(start, inside[:, tf.newaxis], tf.zeros_like(inside, tf.bool))
    start = tf.tensor_scatter_nd_update(start, after[:, tf.newaxis], tf.ones_like(after, tf.bool))

    word_starts = tf.boolean_mask(index, start)
    words = tf.RaggedTensor.from_row_starts(cps, word_starts, validate=False)
    rows = tf.gather(chars.value_rowids(), word_starts)
    per_row = tf.math.bincount(rows, minlength=chars.nrows(), maxlength=chars.nrows(), dtype=tf.int64)
    return tf.RaggedTensor.from_row_lengths(words, per_row, validate=False)


def _utf8_bytes(words):
    """Code points `[words, (chars)]` -> their UTF-8 bytes `[words, (bytes)]` (int32, 0-255)."""
    cps = words.values
    width = tf.where(cps < 0x80, 1, tf.where(cps < 0x800, 2, tf.where(cps < 0x10000, 3, 4)))
    # Byte k of a code point of n bytes: the lead byte (k = 0), then continuation bytes of 6 bits each.
    cp = tf.repeat(cps, width)
    n = tf.repeat(width, width)
    k = tf.cast(tf.ragged.range(tf.cast(width, tf.int64)).values, tf.int32)
    shift = 6 * (n - 1 - k)
    lead = tf.gather(tf.constant([0, 0x00, 0xC0, 0xE0, 0xF0], tf.int32), n)
    bits = tf.bitwise.right_shift(cp, shift)
    continuation = tf.bitwise.bitwise_or(0x80, tf.bitwise.bitwise_and(bits, 0x3F))
    value = tf.where(k == 0, tf.bitwise.bitwise_or(lead, bits), continuation)
    per_word = tf.reduce_sum(words.with_flat_values(tf.cast(width, tf.int64)), axis=1)
    return tf.RaggedTensor.from_row_lengths(value, per_word, validate=False)


def _added_token(token):
    if isinstance(token, str):
        return {"content": token}
    if not isinstance(token, dict) or not isinstance(token.get("content"), str):
        raise ValueError(f"an added token must be a string or a dict with 'content', got {token!r}")
    return dict(token)


def _read_json(path):
    try:
        return json.loads(fileio.read_bytes(path).decode("utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None


def _byte_level(pre_tokenizer, source):
    """The ByteLevel pre-tokenizer's settings (also inside a Sequence); refuses anything else."""
    if pre_tokenizer and pre_tokenizer.get("type") == "Sequence":
        steps = pre_tokenizer.get("pretokenizers") or []
        if len(steps) == 1:
            pre_tokenizer = steps[0]
    if not pre_tokenizer or pre_tokenizer.get("type") != "ByteLevel":
        kind = (pre_tokenizer or {}).get("type")
        raise ValueError(f"{source}: pre-tokenizer {kind!r} is not supported (only ByteLevel, byte-level BPE)")
    if pre_tokenizer.get("use_regex", True) is False:
        raise ValueError(f"{source}: a ByteLevel pre-tokenizer without its regex (use_regex=false) is not supported")
    return pre_tokenizer


def _check_supported(data, model, source):
    if model.get("type") != "BPE":
        raise ValueError(f"{source}: model type {model.get('type')!r} is not BPE")
    if data.get("normalizer"):
        raise ValueError(f"{source}: normalizer {data['normalizer'].get('type')!r} is not supported for byte-level BPE")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise ValueError(f"{source}: BPE {key} {model[key]!r} is not supported")
    for key in ("ignore_merges", "fuse_unk", "byte_fallback"):
        if model.get(key):
            raise ValueError(f"{source}: BPE option {key}=true is not supported")
    if model.get("dropout"):
        raise ValueError(f"{source}: BPE dropout is not supported (inference tokenization is deterministic)")


def has_vocab_and_merges(directory):
    """Whether `directory` holds vocab.json + merges.txt."""
    return fileio.exists(fileio.join(directory, VOCAB_FILE)) and fileio.exists(fileio.join(directory, MERGES_FILE))


def is_byte_level_bpe_json(path):
    """Whether a tokenizer.json holds a BPE model (the kind `ByteLevelBPETokenizer.from_pretrained` reads)."""
    if not fileio.exists(path):
        return False
    return ((_read_json(path).get("model") or {}).get("type")) == "BPE"
