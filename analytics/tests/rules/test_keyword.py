from analytics.rules.keyword import CompiledRuleSet, KeywordRuleSpec, SegmentData

REFUND = KeywordRuleSpec(rule_id=1, name="退费诉求", keywords=("退费", "退款"), role="customer",
                         reason_template="客户提出退费诉求：「{keyword}」")
RUDE = KeywordRuleSpec(rule_id=2, name="服务禁语", keywords=("我也没办法",), role="agent")
ANY = KeywordRuleSpec(rule_id=3, name="提到退费", keywords=("退费",))


def seg(id: int, role: str, text: str, start: int = 0, end: int = 1000) -> SegmentData:
    return SegmentData(id=id, role=role, start_ms=start, end_ms=end, text=text)


def test_it_reports_each_keyword_with_its_span_and_reason() -> None:
    hits = CompiledRuleSet([REFUND]).find_hits([seg(7, "customer", "我想退费，谢谢", 1000, 8000)])
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.rule_id, hit.segment_id, hit.char_start, hit.char_end) == (1, 7, 2, 4)
    assert "我想退费，谢谢"[hit.char_start:hit.char_end] == "退费"
    assert hit.reason == "客户提出退费诉求：「退费」"
    assert 1000 <= hit.start_ms < hit.end_ms <= 8000


def test_it_applies_the_role_filter() -> None:
    segments = [seg(1, "agent", "您要退费是吗"), seg(2, "agent", "这个我也没办法")]
    hits = CompiledRuleSet([REFUND, RUDE]).find_hits(segments)
    assert [(h.rule_id, h.segment_id) for h in hits] == [(2, 2)]


def test_one_keyword_shared_by_two_rules_hits_both() -> None:
    hits = CompiledRuleSet([REFUND, ANY]).find_hits([seg(1, "customer", "退费")])
    assert sorted(h.rule_id for h in hits) == [1, 3]


def test_every_occurrence_is_a_hit() -> None:
    hits = CompiledRuleSet([REFUND]).find_hits([seg(1, "customer", "退费！我要退费，退款也行")])
    assert [h.char_start for h in hits] == [0, 5, 8]


def test_an_empty_rule_set_finds_nothing() -> None:
    assert CompiledRuleSet([]).find_hits([seg(1, "agent", "退费")]) == []


def test_a_bad_reason_template_does_not_break_analysis() -> None:
    rule = KeywordRuleSpec(rule_id=9, name="x", keywords=("退费",),
                           reason_template="{nope}：{keyword}")
    hits = CompiledRuleSet([rule]).find_hits([seg(1, "customer", "退费")])
    assert hits[0].reason == "{nope}：退费"
