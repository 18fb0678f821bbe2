"""tf_simcse trains like PyTorch: several supervised SimCSE steps against transformers + torch.optim.AdamW.

The same tiny BERT checkpoint (tests/fixtures/tiny_bert), the same batches, dropout off (the only randomness two
frameworks cannot share), and the optimizer users run: AdamW with weight decay (0.1 here, so that its exclusions show; not on biases and LayerNorm),
global-norm clipping at 1.0, linear warmup then linear decay (Hugging Face `get_linear_schedule_with_warmup`). The
PyTorch side is the paper's loss written directly on transformers' `BertModel`, with mean pooling. After the run,
the two models embed a probe batch alike; variants of the PyTorch loop with one detail changed (the schedule one
step off, weight decay on every parameter, no clipping) do not, so the tolerance tells those details apart.
"""

import numpy as np
import pytest

from _tiny import packed
from conftest import FIXTURES

torch = pytest.importorskip("torch", reason="PyTorch is the reference")
transformers = pytest.importorskip("transformers", reason="transformers is the reference")

CHECKPOINT = FIXTURES / "tiny_bert"
STEPS, WARMUP, LR, WEIGHT_DECAY, CLIP, TEMPERATURE = 6, 2, 1e-3, 0.1, 1.0, 0.05
VIEWS = ("anchor", "positive", "hard_negative")


def _batches():
    rng = np.random.default_rng(11)
    # Lengths differ per view (dynamic padding), and ids stay below the fixture's vocabulary of 62.
    return [{v: packed(8, n, rng) for v, n in zip(VIEWS, (12, 14, 10))} for _ in range(STEPS)]


def _probe():
    return packed(16, 16, np.random.default_rng(12))


def _tf_run(batches):
    import tensorflow as tf

    from tf_simcse.distribute import make_optimizer
    from tf_simcse.encoders.encoder import Encoder
    from tf_simcse.model import SimCSE

    encoder = Encoder.from_pretrained(str(CHECKPOINT), pooler="avg", dropout=0.0)
    model = SimCSE(encoder, objective="sup", temperature=TEMPERATURE)
    model.compile(optimizer=make_optimizer(
        LR, total_steps=STEPS, warmup_steps=WARMUP, weight_decay=WEIGHT_DECAY, global_clipnorm=CLIP
    ))
    ds = None
    for b in batches:
        one = tf.data.Dataset.from_tensors(b)
        ds = one if ds is None else ds.concatenate(one)
    model.fit(ds, verbose=0, shuffle=False)
    return encoder(_probe(), training=False).numpy()


def _torch_run(batches, *, schedule_shift=0, decay_all=False, clip=CLIP):
    from transformers.optimization import get_linear_schedule_with_warmup

    torch.manual_seed(0)
    bert = transformers.BertModel.from_pretrained(
        str(CHECKPOINT), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    bert.train()
    no_decay = [p for n, p in bert.named_parameters() if not decay_all and ("bias" in n or "LayerNorm" in n)]
    decay = [p for n, p in bert.named_parameters() if decay_all or not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.999), eps=1e-8,
    )
    schedule = get_linear_schedule_with_warmup(optimizer, WARMUP, STEPS)
    for _ in range(schedule_shift):
        schedule.step()

    def embed(view):
        mask = torch.tensor(view["input_mask"], dtype=torch.float32)
        hidden = bert(
            input_ids=torch.tensor(view["input_word_ids"], dtype=torch.long),
            attention_mask=torch.tensor(view["input_mask"], dtype=torch.long),
            token_type_ids=torch.tensor(view["input_type_ids"], dtype=torch.long),
        ).last_hidden_state
        return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)

    for b in batches:
        anchor, positive, negative = (torch.nn.functional.normalize(embed(b[v]), dim=-1) for v in VIEWS)
        # Gao et al. (2021), eq. 5: each anchor against every positive and every hard negative of the batch.
        logits = anchor @ torch.cat([positive, negative]).T / TEMPERATURE
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(anchor)))
        optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(bert.parameters(), clip)
        optimizer.step()
        schedule.step()
    bert.eval()
    with torch.no_grad():
        return embed(_probe()).numpy()


@pytest.fixture(scope="module")
def runs():
    batches = _batches()
    return batches, _tf_run(batches), _torch_run(batches)


def test_sup_simcse_with_adamw_trains_like_pytorch(runs):
    batches, tf_out, torch_out = runs
    before = _torch_run(batches[:0])
    moved = float(np.abs(torch_out - before).max())
    diff = float(np.abs(tf_out - torch_out).max())
    print(f"after {STEPS} steps: max |tf_simcse - PyTorch| {diff:.2e}; training moved the embeddings by {moved:.2e}")
    assert moved > 1e-2  # the run trains, so agreeing means something
    assert diff < 1e-5


@pytest.mark.parametrize(
    "change", [{"schedule_shift": 1}, {"decay_all": True}, {"clip": None}], ids=["schedule_off_by_one",
                                                                               "decay_on_layernorm_and_bias",
                                                                               "no_clipping"]
)
def test_the_tolerance_tells_optimizer_details_apart(runs, change):
    batches, tf_out, _ = runs
    diff = float(np.abs(tf_out - _torch_run(batches, **change)).max())
    print(f"{change}: max |tf_simcse - PyTorch| {diff:.2e}")
    assert diff > 1e-4
