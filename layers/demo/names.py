"""Word lists and code makers for the demo county: road and place names, project names,
construction units and their unified social credit codes.

Everything here is synthetic. Names are built from generic words; no real enterprise or
project is meant.
"""

from __future__ import annotations

import numpy as np

from approvals_link.codes import CREDIT_CODE_CHARSET, credit_code_check_digit

_DIGITS = "零一二三四五六七八九"
# Letters for planning-unit codes, without I and O (easily read as 1 and 0).
UNIT_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def cn_number(n: int) -> str:
    """1..9999 in Chinese numerals: 3 -> 三, 12 -> 十二, 105 -> 一百零五."""
    if n <= 0:
        return _DIGITS[0]
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    out = ""
    zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d:
            if zero:
                out += "零"
                zero = False
            out += _DIGITS[d] + unit
        elif out:
            zero = True
    return out


def unit_code(k: int) -> str:
    """Bijective base-24 letters: 0 -> A, 23 -> Z, 24 -> AA, ..."""
    letters = ""
    k += 1
    while k:
        k, r = divmod(k - 1, len(UNIT_LETTERS))
        letters = UNIT_LETTERS[r] + letters
    return letters


ARTERIALS_NS = ["菊潭大道", "人民大道", "建设大道", "迎宾大道", "工业大道", "长安大道",
                "发展大道", "振兴大道", "湍河大道", "兴业大道"]
ARTERIALS_EW = ["县衙大街", "文化大道", "滨河大道", "中州大道", "朝阳大道", "丰收大道",
                "和谐大道", "永安大道", "宛西大道", "复兴大道"]
SECONDARIES = ["新华路", "解放路", "和平路", "中山路", "健康路", "育才路", "学院路", "光明路",
               "胜利路", "团结路", "民主路", "创业路", "商贸路", "青年路", "幸福路", "平安路",
               "兴隆路", "富民路", "跃进路", "农贸路"]


def road_name(axis: str, k: int) -> str:
    """Name of lattice line k (0 = through the county seat) on axis "ns" or "ew"."""
    a = abs(k)
    if a % 8 == 0:
        names = ARTERIALS_NS if axis == "ns" else ARTERIALS_EW
        idx = a // 8 * 2 - (k < 0)
        base = names[max(idx, 0) % len(names)]
        return base if idx < len(names) else f"{base}{cn_number(idx // len(names) + 1)}段"
    if a % 4 == 0:
        idx = (a // 4 * 2 - (k < 0)) + (0 if axis == "ns" else 7)
        base = SECONDARIES[idx % len(SECONDARIES)]
        return base if idx < len(SECONDARIES) else f"{base}{cn_number(idx // len(SECONDARIES) + 1)}段"
    side = ("东" if k > 0 else "西") if axis == "ns" else ("北" if k > 0 else "南")
    return f"{side}{'经' if axis == 'ns' else '纬'}{cn_number(a)}路"


ROAD_CLASS = {40.0: "主干路", 30.0: "次干路", 20.0: "支路"}

# ------------------------------------------------------------------ projects and units

BRANDS = ["菊潭", "湍源", "伏牛", "恒泰", "瑞丰", "鼎盛", "润达", "嘉禾", "华宇", "金诚", "天成",
          "永兴", "宏远", "盛景", "祥和", "锦程", "丰泽", "昌隆", "德润", "安泰", "新源", "博远",
          "兴宛", "汇通", "福瑞", "鑫宇", "众诚", "合盛", "泓达", "聚丰"]
TOWNS_NORTH = ["夏馆镇", "七里坪乡", "板场乡", "马山口镇"]
TOWNS_SOUTH = ["灌涨镇", "师岗镇", "王店镇", "赤眉镇", "湍东镇", "瓦亭镇", "余关镇", "桃溪镇"]
HOUSING = ["花园", "苑", "府", "家园", "小区", "名邸", "雅居", "新城"]
INDUSTRY_WORDS = {
    "13": "农副产品加工", "14": "食品制造", "18": "服装加工", "26": "新材料", "27": "中药饮片",
    "30": "新型建材", "34": "机械制造", "36": "汽车零部件", "38": "电机电器", "39": "电子元器件",
}
# land use -> (industry codes to draw from, government? , unit names if government)
GOV_UNITS = {
    "0702": ["内乡县城关镇人民政府", "内乡县湍东镇人民政府"],
    "0801": ["内乡县机关事务服务中心", "内乡县政务服务和大数据管理局"],
    "0803": ["内乡县文化广电和旅游局"],
    "0804": ["内乡县教育体育局"],
    "0806": ["内乡县卫生健康委员会"],
    "1208": ["内乡县交通运输局"],
    "1301": ["内乡县水利局"],
    "1302": ["内乡县住房和城乡建设局"],
    "1309": ["内乡县城市管理局"],
    "1310": ["内乡县消防救援大队"],
    "1401": ["内乡县城市管理局", "内乡县住房和城乡建设局"],
    "1403": ["内乡县城市管理局"],
}
COMPANY_KINDS = {
    "0701": ["置业", "房地产开发"], "0901": ["商贸", "实业"], "0902": ["投资", "实业"],
    "1001": ["实业", "科技"], "1101": ["物流", "供应链"], "1303": ["能源", "电力"],
    "1304": ["燃气"], "1306": ["通信网络"],
}

PROJECT_TEMPLATES = {
    "0701": ["{area}{brand}{housing}住宅项目", "{area}{brand}{housing}（{phase}期）项目",
             "{area}棚户区改造安置房项目"],
    "0702": ["{area}社区综合服务中心建设项目", "{area}社区养老服务中心项目"],
    "0801": ["内乡县政务服务中心业务用房建设项目", "内乡县档案馆建设项目",
             "内乡县应急指挥中心建设项目"],
    "0803": ["内乡县图书馆建设项目", "内乡县文化馆建设项目", "内乡县规划展示馆建设项目"],
    "0804": ["内乡县第{no}实验小学建设项目", "内乡县第{no}初级中学建设项目",
             "{area}幼儿园建设项目", "内乡县职业教育中心实训楼项目"],
    "0806": ["内乡县人民医院{ward}建设项目", "内乡县中医院{ward}建设项目",
             "内乡县妇幼保健院建设项目"],
    "0901": ["{area}{brand}商业综合体项目", "{area}农贸市场改造项目",
             "{area}{brand}商业街项目"],
    "0902": ["{area}{brand}金融商务中心项目", "{area}{brand}商务写字楼项目"],
    "1001": ["内乡县产业集聚区{brand}{industry}项目", "内乡县{brand}{industry}产业园项目"],
    "1101": ["内乡县{brand}现代物流园项目", "内乡县{brand}冷链仓储中心项目"],
    "1208": ["内乡县{area}公交首末站建设项目", "内乡县{area}公共停车场建设项目"],
    "13": ["内乡县{utility}项目"],
    "1401": ["{area}{brand}公园建设项目", "{area}湍河游园建设项目"],
    "1403": ["{area}文化广场建设项目"],
    "farmland": ["内乡县{town}{brand}{industry}项目", "内乡县{town}{brand}{industry}厂区项目"],
    "farmland_storage": ["内乡县{town}{brand}仓储物流项目", "内乡县{town}{brand}农产品冷链仓储项目"],
    "eco": ["内乡县{town}{brand}旅游服务中心项目", "内乡县{town}{brand}山地康养项目"],
}
UTILITIES = {"1301": "第二水厂建设", "1302": "城区污水处理厂扩建", "1303": "110千伏变电站",
             "1304": "天然气门站", "1306": "通信枢纽机房", "1309": "生活垃圾转运站",
             "1310": "城区消防救援站"}
WARDS = ["门诊综合楼", "住院楼", "医技楼"]
# GB/T 4754 industry divisions used in the project code (项目代码 第三段)
INDUSTRY_BY_USE = {"0701": ["70"], "0702": ["47"], "0801": ["47"], "0803": ["88"],
                   "0804": ["83"], "0806": ["84"], "0901": ["52", "70"], "0902": ["72", "70"],
                   "1101": ["59"], "1208": ["54"], "1301": ["46"], "1302": ["46"],
                   "1303": ["44"], "1304": ["45"], "1306": ["63"], "1309": ["78"],
                   "1310": ["47"], "1401": ["78"], "1403": ["78"], "1504": ["88"]}


def industry_code(use: str, rng: np.random.Generator) -> str:
    if use == "1001":
        return str(rng.choice(list(INDUSTRY_WORDS)))
    return str(rng.choice(INDUSTRY_BY_USE.get(use, ["47"])))


def _org_code(rng: np.random.Generator, newer: bool) -> str:
    """A 9-character organisation code: 8 body characters and the GB 11714 check."""
    if newer and rng.random() < 0.5:  # enterprises registered since 2015: "MA" + 6 characters
        body = "MA" + "".join(rng.choice(list(CREDIT_CODE_CHARSET[:10] + "ABCDEFGH"), 6))
    else:
        body = "".join(rng.choice(list("0123456789"), 8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(ch) if ch.isdigit() else ord(ch) - 55) * w
                for ch, w in zip(body, weights, strict=True))
    c = 11 - total % 11
    return body + ("X" if c == 10 else "0" if c == 11 else str(c))


def credit_code(kind: str, division: str, rng: np.random.Generator) -> str:
    """Unified social credit code: registration authority + type (11 organ, 12 public
    institution, 91 enterprise), 6-digit division, organisation code, GB 32100 check."""
    prefix = {"organ": "11", "institution": "12"}.get(kind, "91")
    first17 = prefix + division + _org_code(rng, newer=prefix == "91")
    return first17 + credit_code_check_digit(first17)
