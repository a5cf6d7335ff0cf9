"""LegalTokenizer: legal terms survive, determinism, pickling, odd scripts, backend agreement."""

from __future__ import annotations

import pickle

import pytest

from recommender.text import LegalTokenizer, normalize


@pytest.mark.parametrize(
    ("text", "term"),
    [("他人民事权益受到侵害的，可以请求赔偿", "民事权益"),
     ("嘎查的草牧场承包到户", "草牧场"),
     ("受害人可以向法院申请人身安全保护令", "人身安全保护令"),
     ("每个嘎查村培养法律明白人", "法律明白人"),
     ("苏木两委班子换届", "两委")],
)
def test_legal_terms_survive(tokenizer, text, term):
    assert term in tokenizer.cut(text)
    assert term in tokenizer.tokenize(text)


def test_plain_jieba_splits_what_the_dictionary_keeps():
    # The reason the legal dictionary exists: jieba alone cuts 他人民事权益 wrongly.
    import jieba

    plain = jieba.Tokenizer()
    assert "民事权益" not in list(plain.cut("他人民事权益"))


def test_deterministic_and_stop_words_dropped(tokenizer):
    text = "用人单位应当按照劳动合同约定和国家规定，向劳动者及时足额支付劳动报酬。"
    a, b = tokenizer.tokenize(text), LegalTokenizer().tokenize(text)
    assert a == b
    assert "劳动报酬" in a and "的" not in a and "，" not in a and "应当" not in a


def test_compounds_also_yield_their_parts(tokenizer):
    toks = tokenizer.tokenize("人身安全保护令")
    assert toks[0] == "人身安全保护令" and "人身安全" in toks


def test_numbers_and_article_labels_are_not_tokens(tokenizer):
    toks = tokenizer.tokenize("依照第三十条 处二十万元罚款 2021 第一千零七十九条")
    assert "罚款" in toks
    assert not {"第三十条", "三十", "2021", "第一千零七十九条"} & set(toks)


def test_picklable_and_still_works(tokenizer):
    tokenizer.tokenize("先用一次")  # the segmenter (with jieba's lock) now exists
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone.tokenize("申请人身安全保护令") == tokenizer.tokenize("申请人身安全保护令")
    ref = LegalTokenizer(backend="jieba")
    ref.cut("初始化")
    assert pickle.loads(pickle.dumps(ref)).cut("民事权益") == ["民事权益"]


def test_full_width_normalised(tokenizer):
    assert normalize("ＡＢＣ１２３，（一）") == "ABC123,(一)"
    assert "abc" in tokenizer.tokenize("ＡＢＣ公司")


def test_latin_and_mongolian_pass_through(tokenizer):
    mongol = "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ"
    toks = tokenizer.tokenize(f"Hello World {mongol} 蒙古文")
    assert "hello" in toks and "world" in toks
    assert "ᠮᠣᠩᠭᠣᠯ" in toks and "ᠪᠢᠴᠢᠭ" in toks
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("   \n\t ") == []
    assert tokenizer.tokenize("🙂🙂 ！！") == []


def test_fast_backend_agrees_with_jieba_reference():
    fast, ref = LegalTokenizer(backend="rjieba"), LegalTokenizer(backend="jieba")
    texts = [
        "劳动者在该用人单位连续工作满十年的，劳动者提出或者同意续订劳动合同的，应当订立无固定期限劳动合同。",
        "承包方有权依法自主决定土地经营权是否流转和流转的方式。草原承包经营权受法律保护。",
        "国家禁止任何形式的家庭暴力。当事人因遭受家庭暴力，可以向人民法院申请人身安全保护令。",
        "老板拖欠工钱三个月了，包工头跑路，我们农民工该找谁要工资？",
    ]
    for t in texts:
        assert fast.cut(t) == ref.cut(t)


def test_bad_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="backend"):
        LegalTokenizer(backend="nope")  # type: ignore[arg-type]
