"""Rule-engine benchmark: 500 active rules over synthetic 5-minute Mandarin calls, one core.

Workload (deterministic, seeded): `generate_rules()` makes 500 rule documents in the engine's
schema (keyword rules of every mode with role filters, windows, conditions and preconditions;
50 each of regex, proximity, negation-scoped and pinyin-tolerant rules; order, metric and
sentiment rules), `generate_call(i)` call number i (~80 turns, ~1,500 characters, 5 minutes,
stereo or mono) from call-center phrases with digits and ASR homophones.

Ours is `compile_rule_set(...)` once, then `CompiledRuleSet.evaluate(call)` for every call in
this process (the engine is single-threaded). The baseline, measured in the same run, is the
implementation a developer writes first: every rule on its own, every operator one compiled
regex (keywords joined into an alternation) over every segment passing its role and window.
See benchmarks/README.md. Last stdout line: `RESULT {json}`.

    .venv/bin/python benchmarks/rules.py [--quick] [--calls N] [--naive-calls N] [--repeats N]
                                         [--backend ahocorasick-rs|pyahocorasick] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from analytics.rules import external_ops  # noqa: E402
from analytics.rules.engine import CompiledRuleSet, compile_rule_set  # noqa: E402
from analytics.rules.expr import And, Expr, Not, Or, Ref, parse_condition  # noqa: E402
from analytics.rules.types import Call, RuleOutcome, Seg  # noqa: E402
from transcription.asr.itn import normalize  # noqa: E402

SEED = 20260509
RULES = 500
CALLS, QUICK_CALLS = 10_000, 1_000
NAIVE_CALLS, QUICK_NAIVE_CALLS = 200, 50
TARGET_CALLS_PER_S = 500.0
TARGET_RATIO = 20.0
SEGMENTS_PER_CALL = (74, 86)  # inclusive range of turns per call
CHARS_PER_CALL = (1400, 1600)  # per-call text length is drawn from this range
DURATION_S = (285.0, 315.0)
MONO_SHARE = 0.3
UNKNOWN_ROLE_SHARE_OF_MONO = 0.35  # mono calls whose speakers were not told apart
ASR_NOISE = 0.08  # chance that an ASR-confusable word is written as its homophone

# Rule mix of the 500 rules, by what the rule's main operator is. "negation" = keyword rules
# that match only negated mentions ("我不是要退费"); "pinyin" = homophone-tolerant keywords.
RULE_MIX = {
    "keywords": 283,
    "regex": 50,
    "proximity": 50,
    "negation": 50,
    "pinyin": 50,
    "order": 10,
    "metric": 6,
    "sentiment": 1,
}

# -- vocabulary ------------------------------------------------------------------------------

BANKS = ("恒嘉银行", "华信银行", "瑞丰银行", "鼎盛银行", "嘉和银行", "东润银行")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娜", "涛", "婷", "超")
CARDS = (
    "信用卡", "储蓄卡", "借记卡", "白金卡", "金卡", "普卡", "联名卡", "公务卡", "副卡", "主卡",
    "虚拟卡", "社保卡", "工资卡", "留学卡", "车主卡", "商旅卡", "钻石卡", "无限卡", "学生卡",
    "亲情卡",
)
# Business items, with the topic they belong to.
ITEMS = {
    "年费": "fee", "挂失": "loss", "激活": "card", "额度": "limit", "分期": "instalment",
    "账单": "bill", "还款": "bill", "积分": "points", "补办": "loss", "注销": "cancel",
    "冻结": "loss", "解冻": "loss", "换卡": "card", "密码": "card", "权益": "points",
    "优惠": "points", "提现": "limit", "透支": "limit", "取现": "limit", "限额": "limit",
    "绑定": "card", "解绑": "card", "寄送": "card", "开卡": "card", "续卡": "card",
    "升级": "card", "降级": "card", "销卡": "cancel", "到期": "card", "申请": "card",
}
VERBS = (
    "办理", "取消", "申请", "开通", "关闭", "查询", "修改", "调整", "退还", "减免", "撤销",
    "暂停", "恢复", "确认", "核实",
)
OBJECTS = {
    "年费": "fee", "分期": "instalment", "自动还款": "bill", "短信提醒": "card",
    "账单日": "bill", "临时额度": "limit", "固定额度": "limit", "积分兑换": "points",
    "预借现金": "limit", "快捷支付": "card", "免密支付": "card", "境外交易": "card",
    "网上支付": "card", "手机银行": "card", "电子账单": "bill", "纸质账单": "bill",
    "挂失补卡": "loss", "最低还款": "bill", "全额还款": "bill", "分期手续费": "instalment",
    "账单分期": "instalment", "现金分期": "instalment", "消费分期": "instalment",
    "违约金": "overdue", "滞纳金": "overdue", "利息": "overdue", "还款计划": "overdue",
    "理财产品": "wealth", "基金定投": "wealth", "保险产品": "wealth",
}
PRODUCT_HEADS = ("稳健", "安心", "鑫", "盈", "智", "悦", "享", "恒", "丰", "金", "汇", "睿")
PRODUCT_TAILS = ("宝", "利", "盈", "益", "鑫", "通", "添利", "享")
CITIES = (
    "北京", "上海", "广州", "深圳", "杭州", "南京", "苏州", "成都", "重庆", "武汉", "西安",
    "天津", "长沙", "郑州", "青岛", "厦门", "福州", "合肥", "济南", "沈阳", "大连", "昆明",
    "南昌", "南宁", "贵阳", "太原", "石家庄", "哈尔滨", "长春", "宁波", "无锡", "佛山",
    "东莞", "温州", "珠海", "中山", "惠州", "泉州", "烟台", "洛阳",
)
BRANCHES = ("分行", "支行", "网点", "营业部")
ITEM_SUFFIXES = ("费用", "政策", "规定", "流程", "进度", "结果")
PERIODS = (3, 6, 12, 18, 24, 36)
MERCHANTS = (
    "京东", "淘宝", "天猫", "美团", "拼多多", "携程", "滴滴", "苏宁", "唯品会", "饿了么",
    "支付宝", "微信支付", "抖音", "盒马", "大众点评", "去哪儿", "飞猪", "网易", "当当", "国美",
)
MERCHANT_ITEMS = ("消费", "交易", "扣款", "退款", "分期", "订单")
ITEM_QUESTIONS = ("怎么办理", "要多久", "多少钱", "怎么收", "在哪查")

TOPICS = ("fee", "instalment", "bill", "limit", "loss", "points", "cancel", "wealth",
          "overdue", "card")
# Terms a rule author would reach for first, per topic (they occur often in the calls).
CORE_TERMS = {
    "fee": ("年费", "退费", "免年费", "收年费", "扣年费", "年费减免", "减免", "退年费", "工本费"),
    "instalment": ("分期", "手续费", "分期手续费", "费率", "提前还款", "分期付款", "免息"),
    "bill": ("账单", "还款", "最低还款", "还款日", "账单日", "自动还款", "本期账单", "应还金额"),
    "limit": ("额度", "提额", "临时额度", "可用额度", "降额", "固定额度", "提额申请"),
    "loss": ("挂失", "盗刷", "补卡", "冻结", "被盗", "争议处理", "丢了", "临时挂失"),
    "points": ("积分", "兑换", "积分兑换", "礼品", "权益", "积分过期", "里程"),
    "cancel": ("销卡", "销户", "注销", "不用了", "停掉", "不想用了"),
    "wealth": ("理财", "基金", "收益", "年化", "风险", "保本", "理财产品", "产品有风险"),
    "overdue": ("逾期", "征信", "违约金", "滞纳金", "催收", "利息", "手头紧", "晚几天"),
    "card": ("激活", "密码", "换卡", "开卡", "快捷支付", "手机银行", "短信提醒", "APP"),
}
SCRIPT_TERMS = {
    "greeting": ("您好", "你好", "欢迎致电", "很高兴为您服务", "为您服务", "请问有什么可以帮您"),
    "staff_id": ("工号", "客服", "专员"),
    "identity": ("核实一下您的身份", "核实您的身份", "身份证号", "后四位", "预留手机号",
                 "持卡人本人", "身份核实通过", "信息核对无误"),
    "closing": ("还有其他", "其他可以帮您", "感谢您的来电", "祝您生活愉快", "再见", "满意度评价"),
    "apology": ("非常抱歉", "不好意思", "让您久等了", "理解您的心情", "给您带来不便"),
    "complaint": ("投诉", "太差了", "打了好几次", "一直没解决", "找你们领导", "银保监会",
                  "12378", "乱收费", "什么破银行", "曝光", "消协"),
    "forbidden": ("这不归我管", "我也没办法", "自己看着办", "听不懂吗", "爱办不办", "烦不烦"),
    "promise": ("保证收益", "稳赚不赔", "肯定给您退", "一定能批下来", "绝对不亏", "零风险"),
    "account": ("您这张卡", "您尾号", "您的额度", "本期账单", "您名下", "交易记录", "您卡上"),
}
# ASR homophones the pinyin rules are for (written form -> what the ASR heard).
HOMOPHONES = {
    "退费": "推费", "工号": "工好", "销户": "消户", "理财": "理才", "投诉": "头诉",
    "分期": "分其", "年费": "连费", "还款": "换款", "额度": "鹅度", "挂失": "挂湿",
    "盗刷": "到刷", "积分": "鸡分", "注销": "注消", "核实": "合实", "滞纳金": "滞纳今",
    "催收": "催手", "手续费": "手续飞", "基金": "鸡金",
}

# Phrase templates. {slot}s are filled per use (see _SLOTS).
AGENT_OPENING = (
    "您好，{bank}信用卡中心，工号{staff}{name}为您服务，请问有什么可以帮您？",
    "您好，很高兴为您服务，我是{staff}号客服{name}，请问有什么可以帮您？",
    "您好，欢迎致电{bank}，工号{staff}，请问有什么可以帮您？",
    "你好，{bank}客服中心，请问有什么可以帮您？",
    "喂，您好，请讲。",
)
CUSTOMER_OPENING = ("喂，你好，那个我想问一下啊，", "喂？你好，", "你好，我想咨询一下，", "喂，")
AGENT_IDENTITY = (
    "好的，为了保障您的账户安全，我这边需要先核实一下您的身份，麻烦您提供一下身份证号码的后四位。",
    "麻烦您报一下预留手机号的后四位。",
    "跟您确认一下，您是持卡人本人吗？",
    "好的，感谢您的配合，身份核实通过了。",
    "好的，信息核对无误。",
)
CUSTOMER_IDENTITY = ("后四位是{d4}。", "是我本人。", "手机号是{phone}。", "嗯，是的。", "{d4}。")
AGENT_TOPIC = {
    "fee": (
        "我这边看到您这张{card}本期收取了年费{amount}元。",
        "{card}的年费政策是首年免年费，刷卡满{n}次免次年年费。",
        "我这边帮您申请一下年费减免，但不能保证一定成功。",
        "年费减免需要提交申请，审核结果会在{n}个工作日内短信通知您。",
        "补卡的话需要收取工本费{amount}元。",
    ),
    "instalment": (
        "这笔消费可以办理{period}期分期，每期手续费率是{rate}%。",
        "分期后每期还款{amount}元，手续费是按期收取的。",
        "提前还款的话，已经收取的分期手续费是不退的。",
        "您也可以申请{obj}，具体以审批为准。",
        "目前有{period}期免息的活动，您看需要办理吗？",
    ),
    "bill": (
        "您本期账单金额是{amount}元，最后还款日是{month}月{day}日。",
        "最低还款额是{amount}元。",
        "建议您设置一下自动还款，这样就不会忘记了。",
        "您的账单日是每月{day}日，可以通过手机银行修改账单日。",
    ),
    "limit": (
        "您现在的可用额度是{amount}元。",
        "我这边帮您提交一下提额申请，结果以短信通知为准。",
        "临时额度的有效期是{n}天，到期后会恢复到固定额度。",
        "您这张{card}的{item}目前是{amount}元。",
    ),
    "loss": (
        "我这边先帮您办理临时挂失，挂失之后这张卡就不能使用了。",
        "这笔交易我们会帮您提交争议处理，大概需要{n}个工作日。",
        "补卡需要收取工本费{amount}元，新卡会寄送到您的账单地址。",
        "请问您最后一次用卡是在什么时候？",
    ),
    "points": (
        "您目前积分余额是{points}分。",
        "积分可以在手机银行APP里兑换礼品，也可以兑换航空里程。",
        "您的积分有一部分会在{month}月底过期。",
    ),
    "cancel": (
        "销卡之前需要先把欠款还清。",
        "请问是什么原因要销卡呢？我们这边可以为您申请一些优惠。",
        "注销之后这张卡的积分会清零，您确定要注销吗？",
    ),
    "wealth": (
        "我们行最近有一款{product}，年化收益在{rate}%左右。",
        "理财产品有风险，投资需谨慎。",
        "理财非存款，产品有风险，过往业绩不代表未来表现。",
        "这款{product}起购金额是{amount}元，期限{n}天。",
        "这个产品保证收益，稳赚不赔的。",
    ),
    "overdue": (
        "您的账户已经逾期{n}天了，请尽快还款。",
        "逾期会影响您的征信记录，还会产生违约金。",
        "您目前欠款是{amount}元，其中利息{amount}元。",
        "我这边可以帮您申请一个还款计划。",
    ),
    "card": (
        "您的{card}{item}已经办理成功了。",
        "{verb}{obj}可以通过手机银行办理，也可以到{city}的{branch}办理。",
        "新卡收到之后需要先激活才能使用。",
        "密码的话需要您本人带上身份证到网点重置。",
    ),
}
CUSTOMER_TOPIC = {
    "fee": (
        "我这个卡怎么扣了我{amount}的年费啊？",
        "年费能不能给我免了？",
        "我都没怎么用，凭什么收年费？",
        "你们当时办卡的时候说免年费的。",
        "那能给我退费吗？",
    ),
    "instalment": (
        "我想把这笔{amount}的消费分期。",
        "分期手续费怎么算的？",
        "分{period}期的话每个月还多少？",
        "我能提前还款吗？",
    ),
    "bill": (
        "我这个月的账单是多少？",
        "最后还款日是几号？",
        "我已经还了款了，怎么还显示没还？",
        "我想改一下账单日。",
    ),
    "limit": ("我想提一下额度。", "为什么我的额度降了？", "能给我临时额度吗？", "我的额度是多少？"),
    "loss": (
        "我的卡丢了，我要挂失。",
        "我卡被盗刷了，有一笔{amount}的交易不是我消费的。",
        "这笔钱什么时候能退回来？",
        "我的{card}被冻结了。",
        "我在{merchant}的一笔{amount}元{what}一直没到账。",
        "{merchant}{what}那笔钱能退吗？",
    ),
    "points": ("我的积分怎么兑换？", "积分快过期了吧？", "积分能换什么？"),
    "cancel": ("我要把这张卡销了。", "我不想用了，给我注销吧。", "这卡我不要了，销户吧。"),
    "wealth": ("这个理财保本吗？", "风险大不大？", "收益能有多少？", "基金亏了怎么办？"),
    "overdue": (
        "我最近手头紧，能不能晚几天还？",
        "能不能减免一下违约金？",
        "你们催收电话天天打，烦死了。",
    ),
    "card": ("新卡怎么激活？", "我想{verb}一下{obj}。", "手机银行登不上去。", "密码忘了怎么办？",
             "那个{item}{question}？", "我想{verb}{item}。"),
}
AGENT_SERVICE = (
    "您稍等，我帮您查询一下。",
    "不好意思让您久等了。",
    "我这边帮您记录一下，会有专员在{n}个工作日内联系您。",
    "您说的情况我理解。",
    "好的，{verb}{obj}的话需要您本人到{city}的{branch}办理。",
    "我这边看到您名下有一张{card}。",
    "您尾号{d4}的这张卡目前状态正常。",
    "这个{item}{suffix}我这边给您解释一下。",
    "非常抱歉给您带来不便。",
    "您先别着急，我这边帮您处理。",
)
AGENT_FILLER = ("嗯，好的。", "是的。", "对的。", "您请讲。", "您还在线吗？", "好的好的。", "嗯。")
CUSTOMER_FILLER = (
    "嗯。", "好的。", "对。", "哦，这样啊。", "那个……", "嗯嗯。", "行。", "啊？", "你说什么？",
    "就是说，", "然后呢？", "我知道了。",
)
CUSTOMER_COMPLAINT = (
    "你们这什么服务啊，太差了。",
    "我已经打了好几次电话了，一直没解决。",
    "我要投诉你们。",
    "我要打12378投诉。",
    "找你们领导来。",
    "再不解决我就去银保监会投诉。",
    "你们这是乱收费。",
    "什么破银行。",
    "我要发到网上曝光你们。",
)
# Negated mentions: the rule engine's negation scope decides whether these count.
CUSTOMER_NEGATED = (
    "我不是要{neg}，我就是问问。",
    "我不想{neg}。",
    "不用{neg}了。",
    "我没说要{neg}啊。",
    "不{neg}的话我就投诉。",
    "你别给我{neg}。",
)
NEGATABLE = ("退费", "分期", "销户", "投诉", "提额", "注销", "挂失", "办理分期", "销卡", "换卡")
AGENT_FORBIDDEN = ("这不归我管。", "我也没办法。", "你自己看着办吧。", "听不懂吗？")
AGENT_PROMISE = ("这个一定能批下来。", "我保证您的收益。", "肯定给您退。")
AGENT_CLOSING = (
    "请问还有其他可以帮您的吗？",
    "感谢您的来电，祝您生活愉快，再见。",
    "稍后会有一条满意度评价短信，麻烦您给个好评，再见。",
)
CUSTOMER_CLOSING = ("没有了，谢谢。", "好的，再见。", "行，谢谢啊。")

_SLOT = re.compile(r"\{(\w+)\}")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


PRODUCTS = tuple(h + t for h in PRODUCT_HEADS for t in PRODUCT_TAILS)
_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "bank": lambda r: r.choice(BANKS),
    "name": lambda r: r.choice(SURNAMES) + r.choice(GIVEN),
    "staff": lambda r: str(r.randint(1001, 9899)),
    "d4": lambda r: _digits(r, 4),
    "phone": lambda r: "1" + r.choice("3589") + _digits(r, 9),
    "amount": lambda r: str(r.choice((50, 80, 100, 200, 300, 500, 680, 1200, 3000, 8000))
                            + r.randint(0, 99)),
    "n": lambda r: str(r.randint(2, 30)),
    "period": lambda r: str(r.choice(PERIODS)),
    "rate": lambda r: f"{r.randint(1, 9)}.{r.randint(0, 9)}",
    "month": lambda r: str(r.randint(1, 12)),
    "day": lambda r: str(r.randint(1, 28)),
    "points": lambda r: str(r.randint(100, 99999)),
    "card": lambda r: r.choice(CARDS),
    "item": lambda r: r.choice(tuple(ITEMS)),
    "verb": lambda r: r.choice(VERBS),
    "obj": lambda r: r.choice(tuple(OBJECTS)),
    "product": lambda r: r.choice(PRODUCTS),
    "city": lambda r: r.choice(CITIES),
    "branch": lambda r: r.choice(BRANCHES),
    "suffix": lambda r: r.choice(ITEM_SUFFIXES),
    "neg": lambda r: r.choice(NEGATABLE) if r.random() < 0.4
    else r.choice(VERBS) + r.choice(tuple(OBJECTS)),
    "merchant": lambda r: r.choice(MERCHANTS),
    "what": lambda r: r.choice(MERCHANT_ITEMS),
    "question": lambda r: r.choice(ITEM_QUESTIONS),
}


def _fill(template: str, rng: random.Random) -> str:
    if "{" not in template:
        return template
    return _SLOT.sub(lambda m: _SLOTS[m.group(1)](rng), template)


def _asr_noise(text: str, rng: random.Random) -> str:
    for word, heard in HOMOPHONES.items():
        if word in text and rng.random() < ASR_NOISE:
            text = text.replace(word, heard, 1)
    return text


# -- synthetic calls -------------------------------------------------------------------------


def _turn_phrases(
    rng: random.Random, role: str, phase: str, topic: str, complaint: bool, stage: int = 0
) -> Sequence[str]:
    """Templates one turn draws from."""
    agent = role == "agent"
    if phase == "opening":
        return AGENT_OPENING if agent else tuple(
            p + c for p in CUSTOMER_OPENING for c in CUSTOMER_TOPIC[topic])
    if phase == "identity":  # the agent asks first, then confirms
        return (AGENT_IDENTITY[:3] if stage == 0 else AGENT_IDENTITY[3:]) if agent \
            else CUSTOMER_IDENTITY
    if phase == "closing":
        return AGENT_CLOSING if agent else CUSTOMER_CLOSING
    roll = rng.random()
    if agent:
        if roll < 0.004:
            return AGENT_FORBIDDEN
        if roll < 0.008:
            return AGENT_PROMISE
        if roll < 0.55:
            return AGENT_TOPIC[topic]
        if roll < 0.85:
            return AGENT_SERVICE
        return AGENT_FILLER
    if complaint and roll < 0.15:
        return CUSTOMER_COMPLAINT
    if roll < 0.175:
        return CUSTOMER_NEGATED
    if roll < 0.62:
        return CUSTOMER_TOPIC[topic]
    return CUSTOMER_FILLER


def generate_call(index: int, seed: int = SEED) -> Call:
    """Call number `index` of the synthetic set: same seed and index, same call.

    ~80 turns, mostly alternating agent/customer, ~1,500 characters, ~5 minutes; 30 % mono
    (a third of those with speakers not told apart: role "unknown"), stereo calls with the
    occasional interruption (overlap), some long holds, ASR homophones here and there.
    """
    rng = random.Random(f"{seed}:call:{index}")
    layout = "mono" if rng.random() < MONO_SHARE else "stereo"
    unknown_roles = layout == "mono" and rng.random() < UNKNOWN_ROLE_SHARE_OF_MONO
    topics = rng.sample(TOPICS, k=rng.choice((1, 2, 2, 3)))
    complaint = rng.random() < 0.25
    verify = rng.random() < 0.8
    close = rng.random() < 0.85
    turns = rng.randint(*SEGMENTS_PER_CALL)
    target_chars = rng.randint(*CHARS_PER_CALL)

    roles: list[str] = []
    for i in range(turns):
        if i < 2:
            roles.append("agent" if i == 0 else "customer")
        elif rng.random() < 0.08:
            roles.append(roles[-1])  # the same speaker goes on
        else:
            roles.append("customer" if roles[-1] == "agent" else "agent")
    # Per-turn length targets (agents talk longer), scaled to the call's character budget.
    weights = [rng.uniform(16, 34) if r == "agent" else rng.uniform(5, 20) for r in roles]
    scale = target_chars / sum(weights) * 0.8  # phrases overshoot their target a little
    phrases: list[list[str]] = []
    for i, role in enumerate(roles):
        phase = "body"
        if i < 2:
            phase = "opening"
        elif verify and i < 7:
            phase = "identity"
        elif close and i >= turns - 3:
            phase = "closing"
        topic = topics[min(len(topics) - 1, i * len(topics) // turns)]
        stage = sum(1 for j in range(2, i) if roles[j] == role) if phase == "identity" else 0
        if stage >= 2:  # asked and confirmed: on to the business
            phase = "body"
        parts: list[str] = []
        while not parts or (phase == "body" and sum(map(len, parts)) < weights[i] * scale):
            template = rng.choice(_turn_phrases(rng, role, phase, topic, complaint, stage))
            parts.append(_asr_noise(_fill(template, rng), rng))
        phrases.append(parts)
    # Bring the call to its character budget: extend or trim body turns.
    total = sum(len(p) for parts in phrases for p in parts)
    body = [i for i in range(turns) if 8 <= i < turns - 3] or list(range(turns))
    while total < target_chars - 40:
        i = rng.choice(body)
        extra = _asr_noise(_fill(rng.choice(_turn_phrases(
            rng, roles[i], "body", topics[-1], complaint)), rng), rng)
        phrases[i].append(extra)
        total += len(extra)
    while total > target_chars + 40:
        i = rng.choice(body)
        if len(phrases[i]) > 1:
            total -= len(phrases[i].pop())
    texts = ["".join(parts) for parts in phrases]

    # Timeline: per-speaker pace, short gaps, rare holds; stereo calls overlap now and then.
    pace = {"agent": rng.uniform(170, 215), "customer": rng.uniform(180, 240)}
    spans: list[tuple[float, float]] = []
    clock = rng.uniform(300, 1500)
    for i, text in enumerate(texts):
        if i:
            roll = rng.random()
            if roll < 0.03:
                clock += rng.uniform(8000, 16000)  # "您稍等" hold
            elif layout == "stereo" and roll < 0.07 and roles[i] != roles[i - 1]:
                prev_start, prev_end = spans[-1]
                clock = max(prev_start + 200, prev_end - rng.uniform(500, 2500))
            else:
                clock += rng.uniform(150, 900)
        length = max(600.0, len(text) * pace[roles[i]] * rng.uniform(0.85, 1.15))
        spans.append((clock, clock + length))
        clock += length
    stretch = rng.uniform(*DURATION_S) * 1000 / (clock + 500)
    segments = tuple(
        Seg(
            id=i + 1,
            role="unknown" if unknown_roles else roles[i],
            start_ms=int(start * stretch),
            end_ms=int(end * stretch),
            text=text,
            emotion="angry" if complaint and roles[i] == "customer" and rng.random() < 0.1 else "",
        )
        for i, (text, (start, end)) in enumerate(zip(texts, spans, strict=True))
    )
    return Call(segments=segments, channel_layout=layout, duration_ms=int((clock + 500) * stretch))


def generate_calls(count: int, seed: int = SEED, start: int = 0) -> list[Call]:
    return [generate_call(i, seed) for i in range(start, start + count)]


# -- synthetic rules -------------------------------------------------------------------------


def _stable(words: Iterable[str]) -> list[str]:
    """Distinct words that the engine's number normalisation leaves as written."""
    return list(dict.fromkeys(w for w in words if normalize(w) == w))


def keyword_vocabulary() -> dict[str, list[str]]:
    """Rule keywords by topic ("script" and "misc" too): the core terms rule authors use plus a
    long tail of compounds (card × item, verb × object, products, branches, …)."""
    tail: dict[str, list[str]] = {t: [] for t in TOPICS}
    for card in CARDS:
        for item, topic in ITEMS.items():
            tail[topic].append(card + item)
    for verb in VERBS:
        for obj, topic in OBJECTS.items():
            tail[topic].append(verb + obj)
    for item, topic in ITEMS.items():
        for suffix in ITEM_SUFFIXES:
            tail[topic].append(item + suffix)
    for verb in VERBS:
        for item, topic in ITEMS.items():
            tail[topic].append(verb + item)
    for item, topic in ITEMS.items():
        for question in ITEM_QUESTIONS:
            tail[topic].append(item + question)
    for merchant in MERCHANTS:
        for what in MERCHANT_ITEMS:
            tail["loss"].append(merchant + what)
    for product in PRODUCTS:
        tail["wealth"].extend((product, product + "理财"))
    for city in CITIES:
        for branch in BRANCHES:
            tail["card"].append(city + branch)
    for period in PERIODS:
        tail["instalment"].extend((f"{period}期分期", f"{period}期免息", f"分{period}期"))
    vocab = {t: _stable((*CORE_TERMS[t], *tail[t])) for t in TOPICS}
    vocab["script"] = _stable(w for words in SCRIPT_TERMS.values() for w in words)
    vocab["misc"] = _stable((*HOMOPHONES, *NEGATABLE, "VIP", "ETC", "POS机", "ATM"))
    return vocab


_CONDITIONS_2 = ("1 && 2", "1 || 2", "1 && !2", "!(1 && 2)")
_CONDITIONS_3 = ("(1 || 2) && 3", "1 && (2 || !3)", "1 && 2 && !3", "1 || (2 && 3)")
_WINDOWS: tuple[dict[str, Any], ...] = (
    {"first_s": 15}, {"first_s": 30}, {"first_s": 60}, {"last_s": 30}, {"last_s": 60},
    {"from_pct": 0, "to_pct": 50}, {"from_pct": 50, "to_pct": 100}, {"from_pct": 20, "to_pct": 80},
)
_FEE_WORDS = ("手续费", "费率", "利息", "年化", "风险", "收费", "工本费", "违约金")


class _RuleMaker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:rules")
        self.vocab = keyword_vocabulary()
        self.topic_of_core = {w: t for t in TOPICS for w in CORE_TERMS[t]}

    def role(self, agent: float = 0.4, customer: float = 0.4) -> str:
        roll = self.rng.random()
        return "agent" if roll < agent else "customer" if roll < agent + customer else "any"

    def window(self, role: str, chance: float = 0.25) -> dict[str, Any]:
        if self.rng.random() >= chance:
            return {}
        window = dict(self.rng.choice(_WINDOWS))
        if "last_s" in window and role != "any" and self.rng.random() < 0.5:
            window["of"] = "role"
        return {"window": window}

    def terms(self, topic: str, core: int, tail: int) -> list[str]:
        rng = self.rng
        core_words = [w for w in CORE_TERMS[topic] if w in self.vocab[topic]]
        long_tail = [w for w in self.vocab[topic] if w not in core_words]
        picked = rng.sample(core_words, min(core, len(core_words)))
        picked += rng.sample(long_tail, min(tail, len(long_tail)))
        return picked

    def keywords_op(self, topic: str | None = None) -> dict[str, Any]:
        rng = self.rng
        topic = topic or rng.choice(TOPICS)
        role = self.role()
        op: dict[str, Any] = {"type": "keywords", "role": role, **self.window(role)}
        # Mostly specific phrases; a common topic word in about half of the operators.
        words = self.terms(topic, rng.choice((0, 0, 0, 1, 1, 2)), rng.randint(4, 20))
        roll = rng.random()
        if roll < 0.6:
            op["any"] = words
            if rng.random() < 0.2:
                op["min_count"] = rng.randint(2, 3)
        elif roll < 0.75:
            op["all"] = rng.sample(words, min(len(words), rng.randint(2, 3)))
        elif roll < 0.9:
            op["at_least"] = {"n": rng.randint(2, 3), "of": words}
        else:  # "none" rules check that the agent said a required script phrase
            kind = rng.choice(("greeting", "closing", "identity"))
            script = [w for w in SCRIPT_TERMS[kind] if w in self.vocab["script"]]
            op = {"type": "keywords", "role": "agent", "none": rng.sample(
                script, rng.randint(2, len(script)))}
            if kind != "identity" and rng.random() < 0.7:
                op["window"] = ({"first_s": rng.choice((15, 30))} if kind == "greeting"
                                else {"last_s": rng.choice((30, 60)), "of": "role"})
        if rng.random() < 0.4:
            op["negation"] = "include"
        return op

    def regex_op(self, n: int) -> dict[str, Any]:
        rng = self.rng
        topic = rng.choice(TOPICS)
        core = [w for w in CORE_TERMS[topic] if len(w) >= 2]
        alt = "|".join(re.escape(w) for w in rng.sample(core, min(3, len(core))))
        patterns = (
            (rf"(?:{alt})[^，。！？]{{0,8}}?\d+(?:\.\d+)?(?:元|块|%)", None),
            (r"(?:一定|肯定|保证|绝对)(?:能|会|可以)?(?:给您|帮您)?[^，。！？]{0,4}?"
             r"(?:免掉|退回|退给|提额|批下来|赚|回本|收益)", "不(?:能|会)保证"),
            (r"(?<!\d)1[3-9]\d{9}(?!\d)", None),  # a phone number read out
            (r"(?<!\d)\d{17}[\dXx](?!\d)", None),  # an ID number: no literal to prefilter on
            (rf"(?:{alt})", r"不(?:想|要|用|是)|没(?:有|说)"),
            (r"(?<!(?:不|没|别)[^，。！？；]{0,6})(?:把|给我|帮我)[^，。！？；]{0,10}?"
             r"(?:免了|免掉|退了|退掉|退回|销了|停掉)", None),
            (r"爱(\p{Han})不\1|听不懂吗|不归我管|自己看着办", None),
            (r"\p{Han}{2}银行", "恒嘉银行"),  # regex-only syntax: no prefilter
            (rf"(?:您|你)(?:的)?[^，。！？]{{0,6}}(?:{alt})", r"还有其他"),
            (r"后四位[^，。！？]{0,4}\d{4}|尾号\d{4}", None),
        )
        pattern, exclude = patterns[n % len(patterns)]
        role = self.role(0.5, 0.3)
        op: dict[str, Any] = {"type": "regex", "role": role, "pattern": pattern,
                              **self.window(role, 0.2)}
        if exclude is None and rng.random() < 0.3:
            exclude = r"不(?:是|想|要)"
        if exclude is not None:
            op["exclude"] = exclude
        return op

    def proximity_op(self) -> dict[str, Any]:
        rng = self.rng
        topic = rng.choice(TOPICS)
        role = self.role(0.45, 0.35)
        op: dict[str, Any] = {
            "type": "proximity", "role": role, **self.window(role, 0.15),
            "a": self.terms(topic, rng.randint(1, 3), rng.randint(0, 3)),
            "b": [*rng.sample(_FEE_WORDS, rng.randint(2, 4)),
                  *self.terms(topic, 1, rng.randint(0, 2))],
        }
        if rng.random() < 0.6:
            op["within_chars"] = rng.randint(4, 20)
        else:
            op["within_segments"] = rng.randint(0, 3)
        if rng.random() < 0.25:
            op["negate"] = True
        if rng.random() < 0.3:
            op["negation"] = "include"
        return op

    def negation_op(self) -> dict[str, Any]:
        rng = self.rng
        role = self.role(0.15, 0.7)
        words = self.terms(rng.choice(TOPICS), rng.randint(0, 1), rng.randint(2, 5))
        if rng.random() < 0.4:
            words.append(rng.choice(NEGATABLE))
        op: dict[str, Any] = {"type": "keywords", "role": role, "negation": "only", "any": words,
                              **self.window(role, 0.1)}
        if rng.random() < 0.3:
            op["negation_window"] = rng.randint(2, 8)
        return op

    def pinyin_op(self) -> dict[str, Any]:
        rng = self.rng
        words = [rng.choice(_stable(HOMOPHONES))]
        topic = self.topic_of_core.get(words[0], rng.choice(TOPICS))
        words += self.terms(topic, 0, rng.randint(0, 6))
        role = self.role(0.3, 0.5)
        op: dict[str, Any] = {"type": "keywords", "role": role, "pinyin": True,
                              "any": list(dict.fromkeys(words)), **self.window(role, 0.15)}
        if rng.random() < 0.5:
            op["pinyin_threshold"] = rng.choice((0.8, 0.85, 0.9))
        if rng.random() < 0.3:
            op["negation"] = "include"
        return op

    def order_op(self) -> dict[str, Any]:
        rng = self.rng
        first: dict[str, Any] = {"any": rng.sample(SCRIPT_TERMS["identity"], rng.randint(3, 6))}
        if rng.random() < 0.5:
            first["pinyin"] = True
        then = {"any": rng.sample(SCRIPT_TERMS["account"], rng.randint(3, 6))}
        return {"type": "order", "role": "agent", "first": first, "then": then,
                "require": rng.choice(("then_before_first", "first_before_then"))}


_METRIC_OPS: tuple[dict[str, Any], ...] = (
    {"type": "silence", "min_ms": 10000},
    {"type": "interruption", "role": "agent", "min_overlap_ms": 1000, "min_chars": 4},
    {"type": "speech_rate", "role": "agent", "max_cpm": 300, "per": "average"},
    {"type": "latency", "max_ms": 5000, "stat": "max"},
    {"type": "talk_ratio", "role": "agent", "max": 0.75},
    {"type": "repetition", "role": "customer", "times": 3, "similarity": 0.6},
)
_SENTIMENT_OP = {"type": "sentiment", "role": "customer", "scope": "end", "label": "negative",
                 "turns": 3}


def generate_rules(seed: int = SEED) -> list[dict[str, Any]]:
    """`RULES` valid rule documents in the engine's schema, mixed as `RULE_MIX` says."""
    maker = _RuleMaker(seed)
    rng = maker.rng
    kinds = [kind for kind, count in RULE_MIX.items() for _ in range(count)]
    rng.shuffle(kinds)
    docs: list[dict[str, Any]] = []
    made = Counter[str]()
    keyword_keys: list[str] = []
    for number, kind in enumerate(kinds, 1):
        made[kind] += 1
        key = f"bench.{kind}.{made[kind]:03d}"
        ops: list[dict[str, Any]]
        if kind == "keywords":
            topic = rng.choice(TOPICS)
            ops = [maker.keywords_op(topic) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        elif kind == "regex":
            ops = [maker.regex_op(made[kind])]
            if rng.random() < 0.2:
                ops.append(maker.keywords_op())
        elif kind == "proximity":
            ops = [maker.proximity_op()]
        elif kind == "negation":
            ops = [maker.negation_op()]
            if rng.random() < 0.2:
                ops.append(maker.keywords_op())
        elif kind == "pinyin":
            ops = [maker.pinyin_op()]
        elif kind == "order":
            ops = [maker.order_op()]
        elif kind == "metric":
            ops = [dict(_METRIC_OPS[(made[kind] - 1) % len(_METRIC_OPS)])]
        else:
            ops = [dict(_SENTIMENT_OP)]
        doc: dict[str, Any] = {
            "id": number, "key": key, "name": f"基准规则 {number}", "severity":
            rng.choice(("info", "minor", "major", "critical")),
            "explanation": "命中{evidence}",
            "operators": {str(i): op for i, op in enumerate(ops, 1)},
        }
        if len(ops) > 1:
            doc["condition"] = rng.choice(_CONDITIONS_2 if len(ops) == 2 else _CONDITIONS_3)
        if kind in ("keywords", "regex", "proximity", "negation"):
            roll = rng.random()
            if roll < 0.1:
                doc["precondition"] = {"operators": {"1": maker.keywords_op()}}
            elif roll < 0.15 and keyword_keys:
                doc["precondition"] = {"rule": rng.choice(keyword_keys)}
        if kind == "keywords":
            keyword_keys.append(key)
        docs.append(doc)
    return docs


def rule_mix(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the rule set is made of: rules per kind, operators per type, and other features."""
    operators: Counter[str] = Counter()
    features: Counter[str] = Counter()
    keywords: set[str] = set()

    def visit(op: Mapping[str, Any]) -> None:
        operators[op["type"]] += 1
        for mode in ("any", "all", "none", "a", "b"):
            keywords.update(op.get(mode, ()))
        if "at_least" in op:
            keywords.update(op["at_least"]["of"])
        for part in ("first", "then"):
            if part in op:
                visit({"type": "order." + part, **op[part]})
        if op.get("pinyin"):
            features["pinyin_operators"] += 1
        if op.get("negation") == "only":
            features["negation_only_operators"] += 1
        if op.get("exclude"):
            features["regex_with_exclude"] += 1
        if op.get("window"):
            features["windowed_operators"] += 1

    for doc in docs:
        for op in doc["operators"].values():
            visit(op)
        pre = doc.get("precondition")
        if isinstance(pre, Mapping) and "operators" in pre:
            features["inline_preconditions"] += 1
            for op in pre["operators"].values():
                visit(op)
        elif pre is not None:
            features["rule_preconditions"] += 1
        if len(doc["operators"]) > 1:
            features["multi_operator_conditions"] += 1
    kinds = Counter(doc["key"].split(".")[1] for doc in docs)
    return {"rules_by_kind": dict(kinds), "operators_by_type": dict(sorted(operators.items())),
            "features": dict(sorted(features.items())), "distinct_keywords": len(keywords)}


# -- the naive baseline ----------------------------------------------------------------------


def _window_ok(call: Call, seg: Seg, role: str, window: Mapping[str, Any] | None) -> bool:
    if role != "any" and seg.role != role:
        return False
    if not window:
        return True
    end = call.end_ms
    if "first_s" in window:
        lo, hi = 0.0, window["first_s"] * 1000
    elif "last_s" in window:
        if window.get("of") == "role":
            end = max((s.end_ms for s in call.segments if s.role == role), default=0)
        lo, hi = end - window["last_s"] * 1000, float(end)
    else:
        lo = window.get("from_pct", 0) / 100 * end
        hi = window.get("to_pct", 100) / 100 * end
    return seg.start_ms < hi and seg.end_ms > lo


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(set(words), key=len, reverse=True)  # longest first: 退年费 before 年费
    return re.compile("|".join(re.escape(w) for w in ordered), re.IGNORECASE)


class _NaiveOp:
    def __init__(self, op: Mapping[str, Any], role: str = "any", window: Any = None) -> None:
        self.type = op.get("type", "keywords")
        self.role = op.get("role", role)
        self.window = op.get("window", window)
        self.op = op
        if self.type == "keywords":
            self.mode = next(m for m in ("any", "all", "none", "at_least") if m in op)
            words = op["at_least"]["of"] if self.mode == "at_least" else op[self.mode]
            self.needed = {"all": len(set(words)), "at_least": op.get("at_least", {}).get("n", 1)
                           }.get(self.mode, 1)
            self.min_count = op.get("min_count", 1)
            self.pattern = _alternation(words)
            # all / at_least count distinct keywords: look for a match at every position.
            self.every = re.compile(f"(?=({self.pattern.pattern}))", re.IGNORECASE)
        elif self.type == "regex":
            self.rx = regex.compile(op["pattern"])
            self.exclude = regex.compile(op["exclude"]) if op.get("exclude") else None
        elif self.type == "proximity":
            self.a, self.b = _alternation(op["a"]), _alternation(op["b"])
        elif self.type == "order":
            self.first = _NaiveOp(op["first"], self.role, self.window)
            self.then = _NaiveOp(op["then"], self.role, self.window)

    def segments(self, call: Call) -> list[Seg]:
        return [s for s in call.segments if _window_ok(call, s, self.role, self.window)]

    def matched(self, call: Call, sentiment: Callable[[], Any]) -> bool:
        kind = self.type
        if kind == "keywords":
            return self._keywords(self.segments(call))
        if kind == "regex":
            for seg in self.segments(call):
                if self.rx.search(seg.text) and not (
                    self.exclude is not None and self.exclude.search(seg.text)
                ):
                    return True
            return False
        if kind == "proximity":
            return self._proximity(self.segments(call))
        if kind == "order":
            then_at = self.then.first_time(call)
            if then_at is None:
                return False
            first_at = self.first.first_time(call)
            earlier = first_at is not None and first_at < then_at
            return earlier if self.op.get("require") == "first_before_then" else not earlier
        return bool(external_ops.evaluate(kind, self.op, call, sentiment).matched)

    def _keywords(self, segments: Sequence[Seg]) -> bool:
        if self.mode == "none":
            return not any(self.pattern.search(s.text) for s in segments)
        if self.mode == "any":
            if self.min_count == 1:
                return any(self.pattern.search(s.text) for s in segments)
            return sum(len(self.pattern.findall(s.text)) for s in segments) >= self.min_count
        found: set[str] = set()
        for seg in segments:
            found.update(w.lower() for w in self.every.findall(seg.text))
        if len(found) < self.needed:
            return False
        return sum(len(self.pattern.findall(s.text)) for s in segments) >= self.min_count

    def _proximity(self, segments: Sequence[Seg]) -> bool:
        within_chars = self.op.get("within_chars")
        negate = self.op.get("negate", False)
        if within_chars is not None:
            for seg in segments:
                a_spans = [m.span() for m in self.a.finditer(seg.text)]
                if not a_spans:
                    continue
                b_spans = [m.span() for m in self.b.finditer(seg.text)]
                for a in a_spans:
                    near = any(max(b[0] - a[1], a[0] - b[1]) <= within_chars for b in b_spans)
                    if near != negate:
                        return True
            return False
        reach = self.op["within_segments"]
        a_at = [i for i, s in enumerate(segments) if self.a.search(s.text)]
        if not a_at:
            return False
        b_at = [i for i, s in enumerate(segments) if self.b.search(s.text)]
        return any(any(abs(i - j) <= reach for j in b_at) != negate for i in a_at)

    def first_time(self, call: Call) -> int | None:
        """Start of the first segment where this (order half) matched."""
        for seg in self.segments(call):
            if self.pattern.search(seg.text):
                return seg.start_ms
        return None


class _NaiveBlock:
    def __init__(self, operators: Mapping[str, Any], condition: str | None) -> None:
        self.ops = {int(n): _NaiveOp(op) for n, op in operators.items()}
        text = condition or " && ".join(str(n) for n in sorted(self.ops))
        self.condition = parse_condition(text, set(self.ops))

    def value(self, call: Call, sentiment: Callable[[], Any]) -> bool:
        def ev(expr: Expr) -> bool:  # short-circuits like `and` / `or`
            if isinstance(expr, Ref):
                return self.ops[expr.number].matched(call, sentiment)
            if isinstance(expr, Not):
                return not ev(expr.operand)
            if isinstance(expr, And):
                return ev(expr.left) and ev(expr.right)
            assert isinstance(expr, Or)
            return ev(expr.left) or ev(expr.right)

        return ev(self.condition)


@dataclass(frozen=True)
class NaiveOutcome:
    rule_key: str
    applies: bool
    fired: bool


class NaiveRuleSet:
    """The first implementation: each rule separately, each operator one regex over the segments
    passing its role and window. No negation scope, no pinyin, no evidence, no shared work
    (except the call's sentiment, computed once per call when a sentiment rule asks)."""

    def __init__(self, docs: Sequence[Mapping[str, Any]]) -> None:
        self.rules: list[tuple[str, _NaiveBlock, _NaiveBlock | str | None]] = []
        for doc in docs:
            pre = doc.get("precondition")
            pre_block: _NaiveBlock | str | None = None
            if isinstance(pre, Mapping) and "rule" in pre:
                pre_block = str(pre["rule"])
            elif isinstance(pre, Mapping):
                pre_block = _NaiveBlock(pre["operators"], pre.get("condition"))
            body = _NaiveBlock(doc["operators"], doc.get("condition"))
            self.rules.append((str(doc["key"]), body, pre_block))

    def evaluate(self, call: Call) -> list[NaiveOutcome]:
        cached: list[Any] = []

        def sentiment() -> Any:
            if not cached:
                cached.append(external_ops.call_sentiment(call))
            return cached[0]

        fired: dict[str, bool] = {}
        out: list[NaiveOutcome] = []
        for key, body, pre in self.rules:
            if isinstance(pre, str):
                applies = fired.get(pre, False)  # preconditions name earlier rules
            else:
                applies = pre is None or pre.value(call, sentiment)
            hit = applies and body.value(call, sentiment)
            fired[key] = hit
            out.append(NaiveOutcome(key, applies, hit))
        return out


def simple_keyword_rules(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys of rules on which the naive baseline must agree with the engine: keyword operators
    only (body and precondition), negation "include", no pinyin, min_count 1."""

    def simple(op: Mapping[str, Any]) -> bool:
        return (op.get("type") == "keywords" and op.get("negation") == "include"
                and not op.get("pinyin") and op.get("min_count", 1) == 1)

    keys: list[str] = []
    for doc in docs:
        pre = doc.get("precondition")
        if pre is not None and not (isinstance(pre, Mapping) and "operators" in pre):
            continue
        ops = [*doc["operators"].values(), *(pre["operators"].values() if pre else ())]
        if all(simple(op) for op in ops):
            keys.append(str(doc["key"]))
    return keys


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float  # this process's CPU time: less sensitive to other load on the machine


def timed(run: Callable[[Call], object], calls: Sequence[Call]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    for call in calls:
        run(call)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def best_of(repeats: int, measure: Callable[[], Timing]) -> Timing:
    """Best wall time and best CPU time over `repeats` runs (each minimum on its own)."""
    runs = [measure() for _ in range(max(1, repeats))]
    return Timing(min(r.wall_s for r in runs), min(r.cpu_s for r in runs))


def outcome_stats(
    rule_set: CompiledRuleSet, calls: Sequence[Call]
) -> tuple[dict[str, Any], list[list[RuleOutcome]]]:
    per_call = [rule_set.evaluate(call) for call in calls]
    fired = [sum(o.fired for o in outcomes) for outcomes in per_call]
    ever = {o.rule_key for outcomes in per_call for o in outcomes if o.fired}
    errors = sum(1 for outcomes in per_call for o in outcomes if o.error)
    stats = {
        "calls": len(calls),
        "mean_rules_fired_per_call": round(sum(fired) / max(1, len(fired)), 1),
        "min_rules_fired": min(fired, default=0),
        "max_rules_fired": max(fired, default=0),
        "rules_fired_on_some_call": len(ever),
        "rule_errors": errors,
    }
    return stats, per_call


def agreement(
    docs: Sequence[Mapping[str, Any]], ours: Sequence[Sequence[RuleOutcome]],
    naive: NaiveRuleSet, calls: Sequence[Call],
) -> dict[str, Any]:
    """How often the baseline and the engine agree on `fired`: on simple keyword rules (must be
    all), and overall (differences are negation scope, pinyin, counting details)."""
    simple = set(simple_keyword_rules(docs))
    same = total = simple_same = simple_total = 0
    for outcomes, call in zip(ours, calls, strict=True):
        for o, n in zip(outcomes, naive.evaluate(call), strict=True):
            total += 1
            same += o.fired == n.fired
            if o.rule_key in simple:
                simple_total += 1
                simple_same += o.fired == n.fired
    return {"simple_rules": len(simple), "simple_agreement": round(simple_same / simple_total, 4)
            if simple_total else None, "all_rules_agreement": round(same / total, 4)}


def profile_ours(rule_set: CompiledRuleSet, calls: Sequence[Call], top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    timed(rule_set.evaluate, calls)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_CALLS:,} calls, baseline on {QUICK_NAIVE_CALLS}, 2 repeats")
    parser.add_argument("--calls", type=int, default=0, help=f"calls (default {CALLS:,})")
    parser.add_argument("--naive-calls", type=int, default=0,
                        help=f"calls the baseline runs on: the first ones of the set "
                             f"(default {NAIVE_CALLS})")
    parser.add_argument("--repeats", type=int, default=0, help="runs per side, best kept "
                        "(default 3, --quick 2)")
    parser.add_argument("--backend", default=None, help="ahocorasick-rs or pyahocorasick")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of ours")
    args = parser.parse_args(argv)
    n_calls = args.calls or (QUICK_CALLS if args.quick else CALLS)
    n_naive = min(n_calls, args.naive_calls or (QUICK_NAIVE_CALLS if args.quick else NAIVE_CALLS))
    repeats = args.repeats or (2 if args.quick else 3)

    started = time.perf_counter()
    docs = generate_rules(args.seed)
    calls = generate_calls(n_calls, args.seed)
    generated_s = time.perf_counter() - started
    segments = sum(len(c.segments) for c in calls)
    chars = sum(len(s.text) for c in calls for s in c.segments)
    mono = sum(c.channel_layout == "mono" for c in calls)
    mix = rule_mix(docs)
    print(f"generated {len(docs)} rules and {n_calls:,} calls in {generated_s:.1f} s: "
          f"{segments / n_calls:.1f} segments and {chars / n_calls:,.0f} characters per call, "
          f"{mono / n_calls:.0%} mono; {mix['distinct_keywords']:,} distinct keywords", flush=True)
    print(f"rule mix: {mix['rules_by_kind']}", flush=True)

    compile_s = []
    rule_set: CompiledRuleSet | None = None
    for _ in range(repeats):
        start = time.perf_counter()
        rule_set = compile_rule_set(docs, version="bench", backend=args.backend)
        compile_s.append(time.perf_counter() - start)
    assert rule_set is not None
    print(f"compiled in {min(compile_s) * 1000:.0f} ms: {rule_set.keyword_count:,} keywords, "
          f"{rule_set.automaton_count} automatons ({rule_set.automaton_backend}), "
          f"{rule_set.static_rule_count} rules with a precomputed outcome", flush=True)

    naive = NaiveRuleSet(docs)
    subset = calls[:n_naive]
    # Also the warm-up: lazy tables (sound strings, pinyin scores, the jieba dictionary).
    stats, subset_outcomes = outcome_stats(rule_set, subset)
    agree = agreement(docs, subset_outcomes, naive, subset)
    print(f"on the first {n_naive} calls: {stats['mean_rules_fired_per_call']} rules fire per "
          f"call ({stats['min_rules_fired']}–{stats['max_rules_fired']}), "
          f"{stats['rules_fired_on_some_call']} of {len(docs)} rules fired at least once; "
          f"the baseline agrees on {agree['simple_agreement']:.2%} of simple keyword rule "
          f"verdicts ({agree['simple_rules']} rules), {agree['all_rules_agreement']:.2%} overall",
          flush=True)

    ours = best_of(repeats, lambda: timed(rule_set.evaluate, calls))
    ours_cps, ours_cpu_cps = n_calls / ours.wall_s, n_calls / ours.cpu_s
    print(f"ours:  {n_calls:,} calls in {ours.wall_s:.2f} s = {ours_cps:,.0f} calls/s "
          f"({ours.wall_s / n_calls * 1e3:.2f} ms per call; CPU time {ours_cpu_cps:,.0f} calls/s)",
          flush=True)
    ours_subset = best_of(repeats, lambda: timed(rule_set.evaluate, subset))
    naive_run = best_of(repeats, lambda: timed(naive.evaluate, subset))
    naive_cps, naive_cpu_cps = n_naive / naive_run.wall_s, n_naive / naive_run.cpu_s
    ratio = ours_cps / naive_cps
    print(f"naive: {n_naive:,} calls in {naive_run.wall_s:.2f} s = {naive_cps:,.1f} calls/s "
          f"(CPU time {naive_cpu_cps:,.1f} calls/s; ours on the same calls: "
          f"{n_naive / ours_subset.wall_s:,.0f} calls/s)", flush=True)
    meets = ours_cps >= TARGET_CALLS_PER_S and ratio >= TARGET_RATIO
    print(f"{ours_cps:,.0f} calls/s (target ≥ {TARGET_CALLS_PER_S:g}), {ratio:.1f}× the naive "
          f"baseline (target ≥ {TARGET_RATIO:g}×): {'met' if meets else 'NOT met'}", flush=True)
    if args.profile:
        print(profile_ours(rule_set, calls[: min(n_calls, 1000)]), flush=True)

    result = {
        "rules": len(docs),
        "rule_mix": mix,
        "calls": n_calls,
        "mono_calls": mono,
        "segments_per_call": round(segments / n_calls, 1),
        "chars_per_call": round(chars / n_calls),
        "keywords_compiled": rule_set.keyword_count,
        "static_rules": rule_set.static_rule_count,
        "compile_s": round(min(compile_s), 4),
        "ours_s": round(ours.wall_s, 3),
        "ours_calls_per_s": round(ours_cps, 1),
        "ours_ms_per_call": round(ours.wall_s / n_calls * 1000, 3),
        "ours_cpu_calls_per_s": round(ours_cpu_cps, 1),
        "naive_calls": n_naive,
        "naive_s": round(naive_run.wall_s, 3),
        "naive_calls_per_s": round(naive_cps, 2),
        "naive_cpu_calls_per_s": round(naive_cpu_cps, 2),
        "ours_calls_per_s_on_naive_calls": round(n_naive / ours_subset.wall_s, 1),
        "ratio": round(ratio, 1),
        "cpu_ratio": round(ours_cpu_cps / naive_cpu_cps, 1),
        "targets": {"calls_per_s": TARGET_CALLS_PER_S, "ratio": TARGET_RATIO},
        "meets_targets": meets,
        "outcomes": stats,
        "agreement": agree,
        "automaton_backend": rule_set.automaton_backend,
        "repeats": repeats,
        "seed": args.seed,
        "python": platform.python_version(),
        "total_s": round(time.perf_counter() - started, 1),
    }
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
