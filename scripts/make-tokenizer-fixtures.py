#!/usr/bin/env python3
"""Small Hugging Face tokenizer.json files for the tests, and what the reference implementation
(the Rust `tokenizers` library, Python bindings: `pip install tokenizers`, written against 0.23.2)
makes of a set of test strings: test/fixtures/tokenizers/{wordpiece,bytelevel,unigram}/tokenizer.json
and expected.json (ids with special tokens, tokens, decoded text). A development step, never run
in CI; the output is deterministic for a given tokenizers version.

    python3 scripts/make-tokenizer-fixtures.py

Corpus: this repository's docs/*.md and README.md (our own text), plus a few accented lines.
  wordpiece  BERT-style (BertNormalizer lowercase + strip accents, BertPreTokenizer, WordPiece,
             [CLS] $A [SEP], WordPiece decoder), vocab 600
  bytelevel  GPT-2-style (ByteLevel pre-tokenizer / decoder, BPE), vocab 600, <|endoftext|> = eos
  unigram    SentencePiece-style (NFKC, Metaspace, Unigram), vocab 400, </s> appended
"""
import glob
import json
import os

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "tokenizers")

corpus = []
for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [os.path.join(ROOT, "README.md")]:
    with open(p, encoding="utf-8") as fh:
        corpus += [l for l in fh.read().split("\n") if l.strip()]
corpus += ["Café déjà vu, naïve façade: Ünïcödé àccents.", "Zürich, São Paulo, Kraków, Ångström."] * 5

STRINGS = [
    "Hello world",
    "Sparrow runs compressed neural networks at the edge.",
    "  leading and   repeated spaces ",
    "Café déjà vu: naïve façade!",
    "numbers 12345 and 3.14159, int8 / float32",
    "UPPER lower MiXeD",
    "emoji 🐦 and CJK 麻雀",
    "tabs\tand\nnewlines",
    "a",
    "unknownwordzzqx",
]


def wordpiece():
    t = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    t.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True, handle_chinese_chars=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.decoder = decoders.WordPiece()
    tr = trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    t.train_from_iterator(corpus, tr)
    t.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", t.token_to_id("[CLS]")), ("[SEP]", t.token_to_id("[SEP]"))])
    return t, {"do_lower_case": True, "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]"}


def bytelevel():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=True)
    tr = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    t.train_from_iterator(corpus, tr)
    return t, {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "clean_up_tokenization_spaces": False}


def unigram():
    t = Tokenizer(models.Unigram())
    t.normalizer = normalizers.NFKC()
    t.pre_tokenizer = pre_tokenizers.Metaspace()
    t.decoder = decoders.Metaspace()
    tr = trainers.UnigramTrainer(vocab_size=400, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    t.train_from_iterator(corpus, tr)
    t.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", t.token_to_id("</s>"))])
    return t, {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "clean_up_tokenization_spaces": False}


expected = {"tokenizers_version": __import__("tokenizers").__version__, "strings": STRINGS, "cases": {}}
for name, make in [("wordpiece", wordpiece), ("bytelevel", bytelevel), ("unigram", unigram)]:
    t, cfg = make()
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    t.save(os.path.join(d, "tokenizer.json"), pretty=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as fh:
        json.dump(cfg, fh, indent=1)
        fh.write("\n")
    rows = []
    for s in STRINGS:
        e = t.encode(s)
        rows.append({"ids": e.ids, "tokens": e.tokens, "decoded": t.decode(e.ids, skip_special_tokens=True)})
    expected["cases"][name] = rows
    print(name, t.get_vocab_size(), [len(r["ids"]) for r in rows])
with open(os.path.join(OUT, "expected.json"), "w") as fh:
    json.dump(expected, fh, ensure_ascii=False, indent=1)
    fh.write("\n")
