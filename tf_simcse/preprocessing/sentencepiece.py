"""In-graph SentencePiece tokenizer (XLM-R, KoBERT-style vocabs)."""


import tensorflow as tf
import tensorflow_text as tf_text

from tf_simcse import fileio
from tf_simcse.errors import UserInputError
from tf_simcse.preprocessing.wordpiece import CodePointMapper, _Opaque

# File names Hugging Face checkpoints use for the SentencePiece model.
MODEL_FILE_NAMES = ("sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "sentencepiece.model")

# fairseq's dictionary puts four symbols first; HF XLMRobertaTokenizer copies it.
_FAIRSEQ_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
_FAIRSEQ_OFFSET = 1


class SentencePieceTokenizer(tf.Module):
    """Strings -> SentencePiece ids, identical to the `sentencepiece` library.

    Unigram models (XLM-R, KoBERT) run on `tensorflow_text.FastSentencepieceTokenizer`,
    other model types on `tensorflow_text.SentencepieceTokenizer`; the serialized
    model is held in the graph, and a model file is also tracked as a SavedModel asset.

    Args:
        model_file_or_bytes: path to a SentencePiece `.model` file, or its
            serialized bytes.
        fairseq_offset: reproduce Hugging Face's `XLMRobertaTokenizer` ids:
            `<s>=0, <pad>=1, </s>=2, <unk>=3`, every other SentencePiece id + 1,
            and `<mask>` after the last piece.
        lower_case: lowercase the text first (Unicode lowercase of each
            character; not ALBERT's full NFKD/accent preprocessing).
        cls_token, sep_token, pad_token, unk_token, mask_token: special pieces;
            `None` picks `<s>`/`</s>`/`<pad>`/`<unk>`/`<mask>` with
            fairseq_offset, else the first of `[CLS]`/`<s>` (etc.) that the
            model holds.

    Special tokens written literally in the text are encoded as text (HF's
    tokenizers would map e.g. "<mask>" to its id). transformers 5 runs XLM-R
    through a `tokenizers` Unigram model, which breaks exact Viterbi score ties
    ("000" -> "0" "00" or "00" "0") differently from `sentencepiece` in rare
    sentences; this class follows `sentencepiece`, as fairseq did.
    """

    def __init__(
        self,
        model_file_or_bytes,
        *,
        fairseq_offset=False,
        lower_case=False,
        cls_token=None,
        sep_token=None,
        pad_token=None,
        unk_token=None,
        mask_token=None,
        name=None,
    ):
        super().__init__(name=name)
        if isinstance(model_file_or_bytes, (bytes, bytearray)):
            self.model_path = None
            model = bytes(model_file_or_bytes)
            source = "the given model bytes"
        else:
            self.model_path = fileio.as_path(model_file_or_bytes)
            source = self.model_path
            try:
                model = fileio.read_bytes(self.model_path)
            except FileNotFoundError:
                raise FileNotFoundError(f"SentencePiece model file not found: {self.model_path}") from None
        try:
            pieces, model_type = parse_model_proto(model)
        except ValueError as e:
            raise UserInputError(f"{source} is not a valid SentencePiece model: {e}") from None
        if not pieces:
            raise UserInputError(f"{source} is not a valid SentencePiece model: it has no pieces")
        # FastSentencepieceTokenizer breaks exact Viterbi score ties the way the
        # current SentencePiece library does (the older op does not, e.g.
        # "000" -> "00" "0" instead of "0" "00"), but it only implements
        # unigram models: BPE/word/char models use the original op.
        self.model_type = model_type
        if model_type == "unigram":
            self._sp = tf_text.FastSentencepieceTokenizer(model)
        else:
            self._sp = tf_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
        self._model_bytes = model
        self.sp_vocab_size = len(pieces)
        self.fairseq_offset = bool(fairseq_offset)
        self.lower_case = bool(lower_case)
        piece_ids = {}
        for i, piece in enumerate(pieces):
            piece_ids.setdefault(piece, i)
        self._pieces = _Opaque(tuple(pieces))  # kept out of tf.Module tracking

        if self.fairseq_offset:
            defaults = {"cls": ["<s>"], "sep": ["</s>"], "pad": ["<pad>"], "unk": ["<unk>"], "mask": ["<mask>"]}
        else:
            defaults = {
                "cls": ["[CLS]", "<s>", "<cls>"],
                "sep": ["[SEP]", "</s>", "<sep>"],
                "pad": ["[PAD]", "<pad>"],
                "unk": ["[UNK]", "<unk>"],
                "mask": ["[MASK]", "<mask>"],
            }
        given = {"cls": cls_token, "sep": sep_token, "pad": pad_token, "unk": unk_token, "mask": mask_token}
        special_tokens, special_ids = {}, {}
        for key, candidates in defaults.items():
            candidates = [given[key]] if given[key] is not None else candidates
            token, token_id = None, None
            for candidate in candidates:
                token_id = self._lookup(candidate, piece_ids)
                if token_id is not None:
                    token = candidate
                    break
            if token_id is None and key in ("cls", "sep", "unk") and given[key] is not None:
                raise UserInputError(f"{key}_token {given[key]!r} is not a piece of {source}")
            special_tokens[key] = token
            special_ids[f"{key}_id"] = token_id
        # Plain dicts kept out of tf.Module tracking (see WordPieceTokenizer).
        self._special = _Opaque((special_tokens, special_ids))
        if self.lower_case:
            self._lowercaser = CodePointMapper(
                clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True, pretokenize=False
            )
        if self.model_path is not None:
            self.model_file = tf.saved_model.Asset(self.model_path)

    def _lookup(self, token, piece_ids):
        if self.fairseq_offset:
            if token in _FAIRSEQ_SPECIALS:
                return _FAIRSEQ_SPECIALS[token]
            if token == "<mask>":
                return self.sp_vocab_size + _FAIRSEQ_OFFSET
            sp_id = piece_ids.get(token)
            return None if not sp_id else sp_id + _FAIRSEQ_OFFSET
        return piece_ids.get(token)

    @classmethod
    def from_pretrained(cls, path, **overrides):
        """Builds the tokenizer from a Hugging Face directory with a SentencePiece model.

        `fairseq_offset` defaults to True when tokenizer_config.json names
        `XLMRobertaTokenizer` or config.json's model_type is xlm-roberta.
        """
        path = fileio.as_path(path)
        model_file = find_model_file(path)
        if model_file is None:
            raise FileNotFoundError(f"{path} holds no SentencePiece model (looked for {', '.join(MODEL_FILE_NAMES)})")
        settings = {}
        tok_config = _read_json_if_exists(fileio.join(path, "tokenizer_config.json"))
        config = _read_json_if_exists(fileio.join(path, "config.json"))
        tokenizer_class = (tok_config.get("tokenizer_class") or "").replace("Fast", "")
        model_type = config.get("model_type", "")
        if tokenizer_class.startswith("Camembert"):
            raise UserInputError(f"{path}: CamemBERT's fairseq id layout is not supported")
        settings["fairseq_offset"] = tokenizer_class == "XLMRobertaTokenizer" or model_type == "xlm-roberta"
        if "do_lower_case" in tok_config:
            settings["lower_case"] = bool(tok_config["do_lower_case"])
        for key in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token"):
            value = tok_config.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            if value is not None:
                settings[key] = value
        settings.update(overrides)
        return cls(str(model_file), **settings)

    @property
    def special_tokens(self):
        """`{"cls", "sep", "pad", "unk", "mask"}` -> piece string (or None)."""
        return dict(self._special.value[0])

    @property
    def special_token_ids(self):
        """`{"cls_id", "sep_id", "pad_id", "unk_id", "mask_id"}` -> int (or None)."""
        return dict(self._special.value[1])

    @property
    def vocab_size(self):
        extra = _FAIRSEQ_OFFSET + 1 if self.fairseq_offset else 0  # + <mask>
        return self.sp_vocab_size + extra

    @property
    def vocab_path(self):
        """The SentencePiece model file (None if built from bytes); same role as WordPiece's vocab.txt."""
        return self.model_path

    def id_to_token(self, i):
        """The piece of an id (fairseq ids when fairseq_offset is set)."""
        if self.fairseq_offset:
            for token, fairseq_id in _FAIRSEQ_SPECIALS.items():
                if i == fairseq_id:
                    return token
            if i == self.sp_vocab_size + _FAIRSEQ_OFFSET:
                return "<mask>"
            i -= _FAIRSEQ_OFFSET
        return self._pieces.value[i]

    @property
    def model_bytes(self):
        return self._model_bytes

    def save_vocabulary(self, directory, filename=None):
        """Writes the SentencePiece model file and returns its path."""
        if filename is None:
            filename = fileio.basename(self.model_path) if self.model_path else "sentencepiece.model"
        out = fileio.join(directory, filename)
        fileio.write_bytes(out, self._model_bytes)
        return out

    def get_config(self):
        return {
            "fairseq_offset": self.fairseq_offset,
            "lower_case": self.lower_case,
            "cls_token": self.special_tokens["cls"],
            "sep_token": self.special_tokens["sep"],
            "pad_token": self.special_tokens["pad"],
            "unk_token": self.special_tokens["unk"],
            "mask_token": self.special_tokens["mask"],
        }

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, strings):
        """tf.string `[batch]` -> int32 RaggedTensor `[batch, (pieces)]`, no special tokens."""
        strings = tf.convert_to_tensor(strings, tf.string)
        if strings.shape.rank == 0:
            return self.tokenize(strings[tf.newaxis])[0]
        if strings.shape.rank != 1:
            raise ValueError(f"tokenize expects a string scalar or vector, got shape {strings.shape}")
        if self.lower_case:
            strings = self._lowercaser(strings)
        # The fast op yields int32 row splits; the rest of the package uses int64.
        ids = tf.cast(self._sp.tokenize(strings), tf.int32).with_row_splits_dtype(tf.int64)
        if self.fairseq_offset:
            # HF: `sp_id + offset if sp_id else unk_id`, i.e. SentencePiece's
            # <unk> (id 0) becomes fairseq's <unk> (id 3).
            ids = tf.ragged.map_flat_values(
                lambda x: tf.where(x == 0, _FAIRSEQ_SPECIALS["<unk>"], x + _FAIRSEQ_OFFSET), ids
            )
        return ids

    def __call__(self, strings):
        return self.tokenize(strings)


def find_model_file(path):
    """The SentencePiece model file in a Hugging Face directory, or None."""
    for name in MODEL_FILE_NAMES:
        candidate = fileio.join(path, name)
        if fileio.exists(candidate):
            return candidate
    return None


def _read_json_if_exists(path):
    data = fileio.read_json_if_exists(path, {})
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


def _read_varint(data, pos):
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    """Yields (field_number, wire_type, value) of a serialized protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated protobuf message")
        yield number, wire, value


def parse_model_proto(model):
    """(pieces, model_type) of a serialized `sentencepiece.ModelProto`.

    Reads just the fields needed here (ModelProto.pieces[].piece = 1.1,
    ModelProto.trainer_spec.model_type = 2.3) so that the library does not
    depend on the `sentencepiece` package.
    """
    pieces, model_type = [], 1  # proto default: UNIGRAM
    for number, wire, value in _fields(bytes(model)):
        if number == 1 and wire == 2:
            piece = ""
            for sub_number, sub_wire, sub_value in _fields(value):
                if sub_number == 1 and sub_wire == 2:
                    piece = sub_value.decode("utf-8")
            pieces.append(piece)
        elif number == 2 and wire == 2:
            for sub_number, sub_wire, sub_value in _fields(value):
                if sub_number == 3 and sub_wire == 0:
                    model_type = sub_value
    if model_type not in _MODEL_TYPES:
        raise ValueError(f"unknown model_type {model_type}")
    return pieces, _MODEL_TYPES[model_type]
