"""``finance_score``: how much a Chinese text is about finance, in [0, 1], at tens of microseconds a document.

Why this shape (model ``finance_v3``, issue 13):
- **A hand-written lexicon carries the topic.** Measured by leaving one source out, models that learn n-gram
  weights learn the sources' own notion of finance (cnews 财经 is almost all fund news: "基金" became the label),
  and collapse on other texts. The lexicon below (about 1,600 terms in 11 finance subdomains and 13 other topics)
  says what finance is independently of any training source. The model sees, per group, the hit density
  (``log1p(hits per 100 non-space characters)``), a few aggregates (finance and other-topic density, distinct terms,
  their share, text length) and one weight per specific term. Term weights are sign-constrained at training: a
  finance term can only raise the score, an other-topic term only lower it; a term no training text used keeps
  weight 0 and still counts through its group.
- **Densities, not counts**, so a 60-character flash news item or forum post and a 2,000-character article are
  on one scale; training includes real leads and windows of the training documents for the same reason.
- Character n-grams (a learned vocabulary over exact 64-bit keys) remain as an optional block; training decides by
  grouped cross-validation whether they help (see ``domain_train``).
- All n-grams of orders 1-4 are packed into exact 64-bit keys (16 bits a character) and looked up with numpy in a
  two-choice (cuckoo) hash table built at load time: one document costs a handful of vectorised operations.
- Only the first ``max_chars`` characters are read: titles and openings say what a text is about.

Texts are expected after ``normalize_text`` (half-width digits and letters); ASCII is lower-cased, digits fold to
``0`` (``涨0.0%``), characters outside the BMP and NUL fold to U+FFFF, a code no n-gram or term holds.

Texts shorter than ``MIN_CHARS`` non-space characters score 0.0: too short to say what they are about, and the
corpus filter should never keep a fragment for its topic.

Older model files (``finance_v1``, ``finance_v2``: n-grams plus the density of one small lexicon) still load.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

STEP = "domain:finance_score"
MODEL_FORMAT = "fincorpus.finance_score"
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "finance_v3.json"
MIN_CHARS = 5  # fewer non-space characters than this score 0.0

_BITS = 16  # bits a character in a key: 4 characters fit in 64 bits
_FILL = 0xFFFF  # NUL and astral characters fold here; no vocabulary n-gram or lexicon term contains it
_MAX_ORDER = 4

# Hand-written (our own lists from domain knowledge, not drawn from any data set; ASCII lower-case, digits fold to
# 0 as in texts, 2-4 characters: a key holds 4). Finance by subdomain, then "business": generic economic words
# (集团, 万元, 投资, 人民币 ...) that every kind of news uses, so they only count as a group, never one by one.
# The other-topic lists are counter-evidence (sport, entertainment, games, education, consumer tech, diplomacy and
# military, housing and home, fashion, health, lottery, astrology, accidents and crime, culture, travel, food and
# cars): a text full of 楼盘 and 户型 that mentions 贷款 is about housing. Words of government and law (人大, 代表,
# 法院, 判决) are in no list: financial statutes and judgments are full of them; nor are everyday words of any
# report (任务, 升级, 空间, 专业, 就业, 历史, 文化, 配置: a bank's annual report has them all). A term appears in one
# group only.
# fmt: off
_LEXICON_SOURCE: tuple[tuple[str, str, str], ...] = (
    ("banking", "finance", """
银行 商业银行 央行 人民银行 存款 贷款 信贷 储蓄 存单 利息 放贷 授信 不良贷款 不良率 拨备
资本充足 同业 拆借 拆放 承兑 贴现 再贴现 再贷款 信用卡 银行卡 借记卡 网银 手机银行 按揭
房贷 车贷 消费贷 经营贷 小微贷款 普惠金融 活期 定期 揽储 息差 净息差 存贷比 贷款利率
存款利率 lpr 公开市场 逆回购 正回购 mlf slf 借贷便利 工行 建行 农行 中行 交行 招行
工商银行 建设银行 农业银行 中国银行 交通银行 招商银行 兴业银行 浦发银行 民生银行 平安银行
中信银行 光大银行 邮储银行 华夏银行 农商行 城商行 股份行 村镇银行 国有大行 开发银行 进出口行
储户 柜台 柜员 网点 对公 零售银行 存款保险 挤兑 银团 抵押贷款 质押贷款 担保贷款 贷款余额
存款余额 放款 还贷 逾期 呆账 坏账 核销 银行业 银行间 结售汇 存量 增量 票据 汇票 本票 支票
银行承兑
"""),
    ("securities", "finance", """
股票 股市 a股 b股 h股 港股 美股 沪指 深指 上证 深证 沪深 上证指数 深证成指 深成指
创业板 科创板 北交所 主板 中小板 新三板 大盘 个股 板块 概念股 龙头股 蓝筹 蓝筹股 白马股
成长股 题材股 权重股 涨停 跌停 涨幅 跌幅 收涨 收跌 高开 低开 收盘 收市 盘中 盘面 午盘
尾盘 早盘 收报 报收 成交额 成交量 换手率 流通股 总股本 市盈率 市净率 北向资金 南向资金
主力资金 净流入 净流出 融资融券 两融 融资余额 融券 券商 证券 证券公司 证券业 交易所 上交所
深交所 港交所 联交所 纳斯达克 纽交所 道琼斯 道指 标普 恒指 恒生指数 日经 富时 etf 做多
做空 多头 空头 牛市 熊市 反弹 回调 震荡 探底 企稳 放量 缩量 技术面 基本面 k线 均线
支撑位 压力位 阻力位 破位 解禁 限售股 ipo 首发 挂牌 退市 停牌 复牌 摘帽 注册制 打新
新股 配售 发行价 募资 增发 定增 配股 可转债 转债 债券 国债 地方债 企业债 公司债 城投债
信用债 利率债 债市 收益率 票面利率 兑付 展期 债券市场 资本市场 股民 散户 机构投资 投资者
投行 保荐 保荐人 承销 承销商 研报 目标价 买入评级 增持评级 分析师 策略师 沪股通 深股通
港股通 陆股通 两市 三大指数 点位 跑赢 跑输 权证 股指 成份股 成分股 上证综指 沪深0 中证
要约收购 股份制 股改 红筹 中概股 市场情绪 证券市场 股权分置 一级市场 二级市场
"""),
    ("funds", "finance", """
基金 公募 私募 基金经理 基金公司 基金业 净值 单位净值 累计净值 申购 赎回 认购 定投 货币基金
余额宝 债基 股基 偏股 混合型 股票型 债券型 指数基金 lof fof qdii qfii 资管
资产管理 理财产品 信托 信托公司 资管计划 管理费 托管 托管人 基金份额 持有人 私募股权 创投
风投 天使投资 天使轮 a轮 b轮 融资轮 投资组合 资产配置 年化 年化收益 回报率 夏普 回撤
养老金 社保基金 企业年金 主权基金 险资 封闭式 开放式 封基 分级基金 基民 专户 投顾 财富管理
私人银行 母基金 引导基金 产业基金 并购基金 对冲基金 量化投资 公募基金 私募基金 基金规模 仓位
持仓 重仓 轻仓 加仓 减仓 建仓 增仓 调仓 换仓
"""),
    ("insurance", "finance", """
保险 保险公司 保险业 保费 保单 投保 投保人 被保险人 受益人 理赔 赔付 赔付率 保额 寿险 财险
产险 车险 健康险 意外险 重疾险 年金险 再保险 保险代理 保险经纪 精算 偿付能力 承保 保险金
退保 万能险 分红险 投连险 保险资金 保监会 保险合同 保险费 保险责任 免赔 免赔额 相互保险 人保
国寿 太保 平安保险 新华保险 泰康 友邦
"""),
    ("futures", "finance", """
期货 期权 衍生品 主力合约 交割 保证金 持仓量 套期保值 套保 期指 股指期货 商品期货 大宗商品
贵金属 螺纹钢 铁矿石 焦炭 焦煤 豆粕 棉花 白糖 期交所 上期所 大商所 郑商所 中金所 广期所
场外 基差 升水 贴水 行权 行权价 认购期权 认沽 波动率 期货公司 期货业
"""),
    ("forex", "finance", """
外汇 汇率 卢布 离岸 在岸 中间价 贬值 升值 外储 外汇储备 结汇 购汇 汇市 美元指数 美指 汇兑
本币 外币 数字货币 比特币 加密货币 虚拟货币 稳定币 跨境支付 汇差 汇损 套汇 外管局 国际收支
资本项目 经常项目 sdr
"""),
    ("macro", "finance", """
宏观经济 gdp cpi ppi pmi 通胀 通缩 通货膨胀 货币政策 财政政策 降准 降息 加息
缩表 扩表 量化宽松 财政 财政部 预算 赤字 赤字率 专项债 税收 减税 降费 增值税 所得税 个税
营改增 关税 税率 税务 纳税 税款 国税 地税 发改委 国资委 统计局 增长率 固定资产 进出口 顺差
逆差 外贸 下行压力 美联储 联储 欧央行 杠杆率 去杠杆 地方债务 城投 社融 社会融资 m0
货币供应 准备金 存准 准备金率 利率 基准利率 通胀率 失业率 经济数据 经济运行 稳增长 逆周期
国库 国库券 财政收入 财政支出 转移支付 货币市场 金融市场 金融体系 次贷 经济危机 滞胀 景气度
国民经济 储蓄率
"""),
    ("regulation", "finance", """
金融监管 监管 监管部门 监管机构 证监会 银保监会 银保监 银监会 金融委 金稳委 金融稳定 风险防范
合规 反洗钱 洗钱 非法集资 集资诈骗 金融诈骗 庞氏 p0p 网贷 网络借贷 现金贷 高利贷 套路贷
民间借贷 民间融资 罚单 行政处罚 立案调查 违法违规 持牌 金融机构 金融业 金融 金融科技 支付宝
微信支付 支付机构 征信 信用报告 失信 风控 风险管理 压力测试 穿透式 资管新规 窗口指导 问询函
监管函 警示函 内幕交易 操纵市场 操纵证券 虚假陈述 欺诈发行 信息披露 信披 证券法 公司法 保险法
金融犯罪 地方金融 金融办 金融局 金融工作 存款人 债权人 债务人 清偿 破产 破产清算 重整 和解
担保公司 融资担保 小额贷款 小贷 典当 融资租赁 保理 金融租赁 资产评估 评级机构 信用评级 会计师
审计署
"""),
    ("corporate", "finance", """
上市公司 董事会 监事会 股东大会 股东会 独立董事 董事长 总经理 财务总监 董秘 年报 半年报 季报
一季报 三季报 中报 年度报告 财报 业绩预告 快报 营业收入 营收 净利润 归母 扣非 毛利 毛利率
净利率 每股收益 净资产 总资产 负债 资产负债 负债率 现金流 经营活动 应收账款 应付账款 存货
商誉 减值 计提 亏损 盈利 扭亏 利润总额 营业利润 财务报表 利润表 合并报表 证券代码 证券简称
股票代码 股票简称 公告编号 资产重组 借壳 关联交易 对外担保 冻结 司法冻结 轮候冻结 质押
解除质押 解押 实控人 控股股东 大股东 股东 持股 持股比例 股权 股本 股价 股息 分红 派息 送转
转增 除权 除息 回购 增持 减持 股权激励 员工持股 募投 募集资金 注册资本 主营业务 主营
经营业绩 财务费用 每股 元/股 股/股 股份有限 融资方 投资方 合同金额
"""),
    ("retail", "finance", """
炒股 韭菜 割韭菜 庄家 坐庄 主力 游资 吸筹 出货 洗盘 拉升 砸盘 护盘 筹码 利好 利空 抄底
逃顶 止损 止盈 套牢 被套 割肉 解套 追涨 杀跌 补仓 低吸 高抛 做t 打板 封板 炸板 一字板
连板 妖股 主升浪 见底 筑底 满仓 空仓 半仓 清仓 接盘 接盘侠 站岗 国家队 大跌 暴跌 暴涨
大涨 跳水 闪崩 崩盘 飘红 翻红 翻绿 收阳 收阴 阳线 阴线 涨了 跌了 亏钱 赚钱 回本 本金
盈亏 浮亏 浮盈 踏空 牛股 熊股 股神 炒作 量能 北上 股吧 老股民 新股民 抛售 抛压 卖压 回踩
缺口 macd kdj 市盈 大a 沪市 深市 涨停板 跌停板
"""),
    ("business", "finance", """
集团 万元 亿元 消费 出口 进口 利润 资产 资本 投资 资金 收益 合同 签约 中标 子公司 母公司
有限公司 股份公司 有限责任 营业额 经济 经济增长 内需 突破 概念 支撑 压力 热点 题材 龙头
机构 外资 底部 顶部 黑马 白马 持有 买入 卖出 高位 低位 开户 财务 公告 报表 稳健 宽松
紧缩 调控 规模 份额 收入 增速 同比 环比 百分点 权益 债权 债务 借款 还款 兑换 货币 合约
互换 远期 对冲 套利 看涨 看跌 支付 评级 披露 违规 处罚 罚款 牌照 业绩 重组 收购 兼并
并购 控股 参股 估值 市值 上市 股份 人民币 美元 欧元 日元 英镑 港元 港币 金融危机 危机
衰退 复苏 景气 物价 居民收入 国企 央企 民企 国有资产 国资 实体经济 供给侧 十四五 宏观调控
风险提示 重大事项 中签 审计 会计 担保 融资 再融资 信用 流动性 杠杆 理财 黄金 白银 原油
铜价 铝价 金价 油价 指数 证券化 私有化 量化 年金 互助 保障型 储蓄型
"""),
    ("sport", "other", """
比赛 球队 球员 联赛 冠军 进球 主场 客场 教练 主帅 赛季 奥运 世界杯 足球 篮球 网球 排球
乒乓球 羽毛球 决赛 半决赛 季后赛 常规赛 nba cba 中超 英超 西甲 意甲 德甲 欧冠 亚冠
射门 助攻 篮板 得分 球迷 裁判 体育 运动员 田径 游泳 跳水队 金牌 银牌 铜牌 夺冠 卫冕 转会
球星 队友 对手 首发阵容 加时 点球 门将 前锋 后卫 中锋 赛事 锦标赛 体坛 球场 比分 战胜
击败 不敌 晋级 淘汰
"""),
    ("entertainment", "other", """
电影 导演 演员 明星 综艺 歌手 演唱会 专辑 剧组 拍摄 影片 电视剧 粉丝 娱乐圈 绯闻 主演
饰演 首映 上映 影视 片方 编剧 剧情 配角 主角 女星 男星 艺人 经纪人 颁奖 金像奖 金马奖
奥斯卡 戛纳 红毯 综艺节目 选秀 偶像 乐队 歌曲 新歌 演出 舞台 音乐 娱乐 八卦 恋情 婚讯
离婚 影后 影帝 票房
"""),
    ("game", "other", """
游戏 玩家 网游 副本 装备 技能 关卡 手游 公测 内测 服务器 经验值 怪物 角色扮演 网络游戏
游戏公司 电竞 战队 主机 ps0 xbox 任天堂 攻略 npc 门派 坐骑 宠物 道具 礼包 激活码
玩法
"""),
    ("education", "other", """
学生 学校 考试 高考 考生 教师 老师 课程 招生 大学 留学 分数线 录取 教育 中学 小学 幼儿园
学历 学位 硕士 博士 本科 院校 高校 考研 四六级 雅思 托福 签证 留学生 毕业 毕业生 教学
校园 班级 家长 学费 奖学金 课堂 作业 复习
"""),
    ("tech", "other", """
手机 芯片 屏幕 处理器 软件 电脑 笔记本 数码 像素 摄像头 相机 镜头 单反 内存 硬盘 显卡
cpu gpu 操作系统 安卓 苹果 ipad 华为 小米 三星 联想 英特尔 微软 谷歌 浏览器
人工智能 算法 机器人 无人机 5g 通信 运营商 宽带 路由器 电池 续航 分辨率 英寸 测评 评测
机型 行货 中关村 ghz
"""),
    ("politics", "other", """
外交 总统 总理 大使 军队 军事 导弹 选举 议会 政党 部队 战争 国防 外长 外交部 会谈 会见
领导人 国务委员 总书记 习近平 胡锦涛 温家宝 台湾 美方 中方 双边 多边 联合国 安理会 制裁
冲突 恐怖 袭击 武装 士兵 将军 军方 航母 战机 核武 朝鲜 伊朗 叙利亚 北约
"""),
    ("housing", "other", """
楼盘 房价 开发商 户型 售楼 样板间 商品房 二手房 地块 拍地 地王 容积率 物业 业主 入住 精装
毛坯 平米 平方米 均价 房源 楼市 购房 买房 购房者 房地产 地产 住宅 别墅 公寓 小区 楼层
朝向 交房 现房 期房 开盘价 认筹 装修 家装 家具 家居 客厅 卧室 厨房 卫生间 卫浴 地板 瓷砖
橱柜 衣柜 沙发 灯具 建材 涂料 设计师 软装 硬装 收纳
"""),
    ("fashion", "other", """
时尚 搭配 服装 穿搭 裙子 连衣裙 短裙 长裙 外套 大衣 毛衣 衬衫 裤子 牛仔 高跟鞋 发型 化妆
美容 护肤 彩妆 口红 香水 秀场 模特 t台 时装 时装周 潮流 街拍 造型 身材 美腿 瘦身 减肥
肌肤 面膜 保湿 美白 腮红 眼影 睫毛 配饰 项链 手袋 包包 奢侈品
"""),
    ("health", "other", """
患者 医院 医生 疾病 治疗 药物 疫苗 病毒 症状 手术 病人 诊断 感染 病例 确诊 医疗 养生
饮食 营养 癌症 肿瘤 心脏 血压 血糖 糖尿病 药品 中医 西医 护士 门诊 住院 急诊 传染病 防疫
疫情 新冠 肺炎 体检 康复
"""),
    ("lottery", "other", """
彩票 彩民 投注 开奖 中奖 双色球 大乐透 福彩 体彩 奖池 头奖 一等奖 二等奖 号码 红球 蓝球
胆码 复式 单式 选号 彩种 七乐彩 排列三 福彩0d 竞彩 足彩 任选
"""),
    ("astrology", "other", """
星座 白羊座 金牛座 双子座 巨蟹座 狮子座 处女座 天秤座 天蝎座 射手座 摩羯座 水瓶座 双鱼座
运势 塔罗 星盘 上升星座 桃花运 生肖 属相 风水 算命
"""),
    ("society", "other", """
警方 民警 嫌疑人 派出所 公安 村民 事故 车祸 死亡 受伤 遇难 救援 消防 火灾 地震 暴雨 台风
天气 气温 降雨 交警 司机 乘客 路人 老人 女子 男子 妻子 丈夫 儿子 女儿 父母 家属 盗窃
抢劫 杀人
"""),
    ("culture-life", "other", """
文物 博物馆 古代 诗人 诗歌 小说 作家 艺术 画家 书法 展览 考古 朝代 皇帝 文学 图书 读者
阅读 图书馆 非遗 民俗 中秋 端午 旅游 景区 游客 酒店 美食 餐厅 菜品 口味 烹饪 食材 汽车
车型 轿车 suv 发动机 排量 变速箱 驾驶 试驾 车主 油耗 底盘 4s店
"""),
)
# fmt: on


@dataclass(frozen=True)
class LexiconGroup:
    name: str
    kind: str  # "finance" or "other"
    terms: tuple[str, ...]
    generic: bool = False  # weighted as a group only (no per-term weights)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "generic": self.generic, "terms": list(self.terms)}


GENERIC_GROUPS = frozenset({"business"})
LEXICON: tuple[LexiconGroup, ...] = tuple(
    LexiconGroup(name, kind, tuple(body.split()), name in GENERIC_GROUPS)
    for name, kind, body in _LEXICON_SOURCE
)


class ModelFileError(ValueError):
    """A finance_score model file is missing, unreadable or does not match this code; the message says what."""


V2_LEXICON_FEATURE = "log1p(lexicon hits per 100 chars)"
V3_LEXICON_FEATURE = "lexicon groups: log1p(hits per 100 non-space chars) per group, aggregates, term weights"


@dataclass(frozen=True)
class FeatureSpec:
    """How a text becomes features; stored in the model file and checked against this code at load time."""

    orders: tuple[int, ...] = (1, 2, 3)
    max_chars: int = 2000
    char_bits: int = _BITS
    term_weight: str = "binary"
    norm: str = "l2-over-vocabulary-hits"
    lexicon_feature: str = V3_LEXICON_FEATURE
    folding: tuple[str, ...] = ("ascii-lower", "digits->0", "nul-and-astral->U+FFFF")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> FeatureSpec:
        try:
            spec = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except TypeError as exc:
            raise ModelFileError(f"{where}: feature_spec has fields this code does not know: {exc}") from exc
        fixed = cls(orders=spec.orders, max_chars=spec.max_chars, lexicon_feature=spec.lexicon_feature)
        if (
            spec != fixed
            or spec.lexicon_feature not in (V2_LEXICON_FEATURE, V3_LEXICON_FEATURE)
            or not set(spec.orders) <= set(range(1, _MAX_ORDER + 1))
            or spec.max_chars < MIN_CHARS
        ):
            raise ModelFileError(
                f"{where}: feature_spec {spec.to_json()} is not one this code computes "
                f"(orders within 1-{_MAX_ORDER}, max_chars >= {MIN_CHARS}, lexicon_feature one of "
                f"{[V2_LEXICON_FEATURE, V3_LEXICON_FEATURE]}, other fields as in {fixed.to_json()}); "
                "retrain with `python -m fincorpus.cleaning.domain_train`"
            )
        return spec


def _fold_table() -> np.ndarray:
    """Code point -> folded code for the BMP, in one array so folding a text is one gather."""
    fold = np.arange(_FILL + 1, dtype=np.uint64)
    fold[0] = _FILL
    fold[ord("A") : ord("Z") + 1] += 32
    fold[ord("0") : ord("9") + 1] = ord("0")
    return fold


_FOLD = _fold_table()


def char_codes(text: str, max_chars: int) -> np.ndarray:
    """Folded codes (uint64) of the first ``max_chars`` characters, ready for key packing."""
    cp = np.frombuffer(text[:max_chars].encode("utf-32-le"), dtype=np.uint32)
    return _FOLD[np.minimum(cp, _FILL)]  # astral characters land on U+FFFF with NUL


def ngram_keys(codes: np.ndarray, orders: Iterable[int]) -> list[np.ndarray]:
    """Keys of all n-grams of each order (in the order asked), each n-gram packed 16 bits a character."""
    wanted = set(orders)
    out: dict[int, np.ndarray] = {}
    shift = np.uint64(_BITS)
    prev = codes
    for n in range(1, max(wanted, default=0) + 1):
        if n > 1:
            prev = (prev[:-1] << shift) | codes[n - 1 :] if prev.size > 1 else prev[:0]
        if n in wanted:
            out[n] = prev
    return [out[n] for n in orders]


def key_of(gram: str) -> int:
    """The key of one n-gram string, folded as texts are (so a lexicon entry matches what texts produce)."""
    codes = char_codes(gram, _MAX_ORDER + 1)
    if not 1 <= codes.size <= _MAX_ORDER:
        raise ValueError(f"n-gram {gram!r} must have 1-{_MAX_ORDER} characters")
    key = 0
    for c in codes.tolist():
        key = (key << _BITS) | c
    return key


def gram_of(key: int) -> str:
    """The n-gram string of a key (inverse of ``key_of`` up to folding)."""
    chars = []
    while key:
        chars.append(chr(key & _FILL))
        key >>= _BITS
    return "".join(reversed(chars))


def order_of(key: int) -> int:
    return (int(key).bit_length() + _BITS - 1) // _BITS


def lexicon_feature(hits: int, n_chars: int) -> float:
    """The v1/v2 lexicon feature: log1p(hits per 100 characters of the head, spaces included)."""
    return math.log1p(100.0 * hits / n_chars) if n_chars else 0.0


def nonspace(text: str) -> int:
    return len(text) - sum(map(text.count, " \n\t\u3000"))


# Lexicon features after the per-group densities, in this order (model files name them; unused ones weigh 0).
AGGREGATES: tuple[str, ...] = (
    "density:finance",  # log1p(finance hits per 100 non-space characters)
    "density:other",  # the same for the other-topic groups
    "distinct:finance",  # log1p(number of distinct finance terms)
    "distinct:other",
    "finance_share",  # (finance hits + 1) / (all hits + 2)
    "log_length",  # log(non-space characters) / 7
    "net_density",  # density:finance - density:other
    "v2_density",  # the v1/v2 feature (lexicon_feature)
    "density:specific",  # log1p(hits of finance terms outside the generic groups per 100 non-space characters)
    "net_specific",  # density:specific - density:other
)


def feature_names(groups: Sequence[LexiconGroup]) -> tuple[str, ...]:
    return (*(f"density:{g.name}" for g in groups), *AGGREGATES)


def lexicon_features(
    hits: np.ndarray,
    distinct: np.ndarray,
    is_finance: np.ndarray,
    is_specific: np.ndarray,
    n_nonspace: int,
    n_chars: int,
) -> np.ndarray:
    """Feature vector (order of ``feature_names``) from per-group hit counts and distinct-term counts;
    ``is_finance`` and ``is_specific`` (finance and not generic) flag the groups."""
    n = max(n_nonspace, 1)
    fin = float(hits[is_finance].sum())
    spec = math.log1p(100.0 * float(hits[is_specific].sum()) / n)
    oth = float(hits.sum()) - fin
    d_fin = float(distinct[is_finance].sum())
    fd, od = math.log1p(100.0 * fin / n), math.log1p(100.0 * oth / n)
    aggregates = (
        fd,
        od,
        math.log1p(d_fin),
        math.log1p(float(distinct.sum()) - d_fin),
        (fin + 1.0) / (fin + oth + 2.0),
        math.log(n) / 7.0,
        fd - od,
        lexicon_feature(int(fin + oth), n_chars),
        spec,
        spec - od,
    )
    return np.concatenate((np.log1p(100.0 * hits / n), aggregates))


@dataclass(frozen=True)
class LexiconIndex:
    """Lexicon terms as sorted exact keys with their group, for counting hits in a text's n-gram keys."""

    keys: np.ndarray  # sorted unique uint64 keys of the terms (a term folding like an earlier one is dropped)
    group: np.ndarray  # group index of each key
    terms: tuple[str, ...]  # the term of each key
    groups: tuple[LexiconGroup, ...]

    @classmethod
    def build(cls, groups: Sequence[LexiconGroup]) -> LexiconIndex:
        first: dict[int, tuple[int, str]] = {}
        for gi, g in enumerate(groups):
            for term in g.terms:
                first.setdefault(key_of(term), (gi, term))
        keys = sorted(first)
        return cls(
            np.array(keys, dtype=np.uint64),
            np.array([first[k][0] for k in keys], dtype=np.int64),
            tuple(first[k][1] for k in keys),
            tuple(groups),
        )

    @property
    def orders(self) -> tuple[int, ...]:
        return tuple(sorted({order_of(int(k)) for k in self.keys}))

    @property
    def is_finance(self) -> np.ndarray:
        return np.array([g.kind == "finance" for g in self.groups], dtype=bool)

    @property
    def is_specific(self) -> np.ndarray:
        return np.array([g.kind == "finance" and not g.generic for g in self.groups], dtype=bool)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Index (into ``keys``/``terms``) of every occurrence of a term among ``keys``."""
        if not self.keys.size or not keys.size:
            return np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return pos[self.keys[pos] == keys]

    def counts(self, found: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hits per group, distinct terms per group, sorted distinct term indices) of ``find``'s result."""
        n_groups = len(self.groups)
        uniq = np.unique(found)
        return (
            np.bincount(self.group[found], minlength=n_groups).astype(np.float64),
            np.bincount(self.group[uniq], minlength=n_groups).astype(np.float64),
            uniq,
        )


_MUL = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_MASK64 = (1 << 64) - 1


@dataclass
class KeyTable:
    """Cuckoo hash table from exact n-gram keys to per-entry values, looked up with numpy.

    Two halves, one hash function each; every key lives in exactly one half, so a lookup is one gather and one
    comparison over both candidate slots whatever the load, and never finds a key twice.
    """

    keys: np.ndarray  # uint64 key per slot over both halves, 0 = empty (no n-gram key is 0)
    entry: np.ndarray  # int64 entry id per slot, -1 = empty
    shift: np.uint64
    half: int

    @classmethod
    def build(cls, keys: Sequence[int]) -> KeyTable:
        bits = max(10, (4 * max(len(keys), 1) - 1).bit_length())  # each half at most 1/4 full
        for extra in range(4):
            table = cls._try_build(keys, bits + extra)
            if table is not None:
                return table
        raise RuntimeError(f"could not place {len(keys)} keys in a cuckoo table")  # pragma: no cover

    @classmethod
    def _try_build(cls, keys: Sequence[int], bits: int) -> KeyTable | None:
        half = 1 << bits
        table = cls(
            np.zeros(2 * half, np.uint64), np.full(2 * half, -1, np.int64), np.uint64(64 - bits), half
        )
        for entry, key in enumerate(keys):
            k, e, side = key, entry, 0
            for _ in range(100):
                slot = table._slot(k, side)
                k, table.keys[slot] = int(table.keys[slot]), k
                e, table.entry[slot] = int(table.entry[slot]), e
                if k == 0:
                    break
                side = 1 - side  # the evicted key moves to its slot in the other half
            else:
                return None
        return table

    def _slot(self, key: int, side: int) -> int:
        return ((key * int(_MUL[side])) & _MASK64) >> int(self.shift) | side * self.half

    def candidates(self, keys: np.ndarray) -> np.ndarray:
        """Both candidate slots of every key: first halves, then second halves."""
        first = ((keys * _MUL[0]) >> self.shift).view(np.int64)  # int64 indexes: uint64 ones take a slow path
        return np.concatenate((first, ((keys * _MUL[1]) >> self.shift).view(np.int64) + self.half))

    def slots_found(self, keys: np.ndarray) -> np.ndarray:
        """Slots of the keys present (one per occurrence)."""
        cand = self.candidates(keys)
        return cand[self.keys[cand] == np.concatenate((keys, keys))]


@dataclass
class FinanceScorer:
    """Logistic regression over lexicon features, term weights and (optionally) n-gram presence; ``score`` is the
    probability of finance."""

    version: str
    spec: FeatureSpec
    vocab: dict[str, float]  # n-gram -> weight (empty when the model uses no n-grams)
    groups: tuple[LexiconGroup, ...]
    bias: float
    feature_weights: dict[str, float]  # feature name (see ``feature_names``) -> weight
    term_weights: dict[str, float] = field(default_factory=dict)  # lexicon term -> weight
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = feature_names(self.groups)
        unknown = sorted(set(self.feature_weights) - set(names))
        if unknown:
            raise ModelFileError(f"model features {unknown[:5]} are not ones this code computes ({names})")
        self._fw = np.array([self.feature_weights.get(n, 0.0) for n in names])
        lex = LexiconIndex.build(self.groups)
        known_terms = set(lex.terms)
        stray = [t for t in self.term_weights if t not in known_terms]
        if stray:
            raise ModelFileError(f"term weights {stray[:5]} are for terms outside the model's lexicon")
        vocab_keys = [key_of(g) for g in self.vocab]
        bad = [g for g, k in zip(self.vocab, vocab_keys, strict=True) if order_of(k) not in self.spec.orders]
        if bad:
            raise ModelFileError(f"vocabulary n-grams {bad[:5]} are not of orders {self.spec.orders}")
        lex_keys = [int(k) for k in lex.keys]
        all_keys = list(dict.fromkeys([*vocab_keys, *lex_keys]))
        self._table = KeyTable.build(all_keys)
        # Per-slot values, so a lookup's slots index them directly.
        entry = self._table.entry
        used = entry >= 0
        n_keys = len(all_keys)
        weight = np.zeros(n_keys)
        weight[: len(vocab_keys)] = list(self.vocab.values())  # vocabulary keys come first in all_keys
        position = {k: i for i, k in enumerate(all_keys)}
        group = np.full(n_keys, -1, dtype=np.int64)
        term_w = np.zeros(n_keys)
        tw = {key_of(t): w for t, w in self.term_weights.items()}
        for k, gi in zip(lex_keys, lex.group.tolist(), strict=True):
            group[position[k]] = gi
            term_w[position[k]] = tw.get(k, 0.0)
        self._slot_weight = np.where(used, weight[entry], 0.0)
        self._slot_vocab = used & (entry < len(vocab_keys))
        self._slot_group = np.where(used, group[entry], -1)
        self._slot_term = np.where(used, term_w[entry], 0.0)
        self._is_finance = lex.is_finance
        self._is_specific = lex.is_specific
        # n-grams of the spec's orders only feed the vocabulary: a lexicon-only model skips them
        self._orders = tuple(sorted((set(self.spec.orders) if self.vocab else set()) | set(lex.orders)))

    @classmethod
    def load(cls, path: Path | None = None) -> FinanceScorer:
        """Read a model file (default: the shipped ``models/finance_v3.json``)."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelFileError(
                f"finance_score model {path} not found; train one with "
                "`python -m fincorpus.cleaning.domain_train --data ../shared/data --out <path>`"
            ) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"finance_score model {path} is not readable JSON: {exc}") from exc
        return cls.from_json(data, where=str(path))

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "<model>") -> FinanceScorer:
        if not isinstance(data, Mapping) or data.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{where}: not a finance_score model (expected format {MODEL_FORMAT!r})")
        missing = {"version", "feature_spec", "vocab", "bias"} - set(data)
        if missing:
            raise ModelFileError(f"{where}: model file lacks {sorted(missing)}")
        spec = FeatureSpec.from_json(data["feature_spec"], where)
        meta = {
            k: v for k, v in data.items() if k not in {"vocab", "lexicon", "lexicon_groups", "term_weights"}
        }
        try:
            if spec.lexicon_feature == V2_LEXICON_FEATURE:  # finance_v1 / finance_v2 files
                groups: tuple[LexiconGroup, ...] = (
                    LexiconGroup("lexicon", "finance", tuple(data["lexicon"])),
                )
                features = {"v2_density": float(data["lexicon_weight"])}
                terms: dict[str, float] = {}
            else:
                groups = tuple(
                    LexiconGroup(str(g["name"]), str(g["kind"]), tuple(g["terms"]), bool(g["generic"]))
                    for g in data["lexicon_groups"]
                )
                features = {str(k): float(v) for k, v in data["feature_weights"].items()}
                terms = {str(k): float(v) for k, v in data["term_weights"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: lexicon part of the model file is incomplete: {exc!r}") from exc
        return cls(
            version=str(data["version"]),
            spec=spec,
            vocab={str(g): float(w) for g, w in data["vocab"].items()},
            groups=groups,
            bias=float(data["bias"]),
            feature_weights=features,
            term_weights=terms,
            metadata=meta,
        )

    def margin(self, text: str) -> float | None:
        """The linear score (log-odds), or None for a text too short to score."""
        head = text[: self.spec.max_chars]
        n_chars = nonspace(head)
        if n_chars < MIN_CHARS:
            return None
        codes = char_codes(head, self.spec.max_chars)
        found = self._table.slots_found(np.concatenate(ngram_keys(codes, self._orders)))
        vocab = np.sort(found[self._slot_vocab[found]])
        linear = 0.0
        if vocab.size:
            vocab = vocab[np.concatenate(((True,), vocab[1:] != vocab[:-1]))]  # np.unique costs 5x more here
            linear = float(self._slot_weight[vocab].sum()) / math.sqrt(vocab.size)
        lex = found[self._slot_group[found] >= 0]
        n_groups = len(self.groups)
        if lex.size:
            hits = np.bincount(self._slot_group[lex], minlength=n_groups).astype(np.float64)
            lex = np.sort(lex)
            uniq = lex[np.concatenate(((True,), lex[1:] != lex[:-1]))]
            distinct = np.bincount(self._slot_group[uniq], minlength=n_groups).astype(np.float64)
            linear += float(self._slot_term[uniq].sum())
        else:
            hits = distinct = np.zeros(n_groups)
        feats = lexicon_features(hits, distinct, self._is_finance, self._is_specific, n_chars, len(head))
        return self.bias + linear + float(feats @ self._fw)

    def score(self, text: str) -> float:
        """Probability that the text is about finance, rounded to 4 decimals; 0.0 below ``MIN_CHARS``."""
        if not isinstance(text, str):
            raise TypeError(f"finance_score needs str, got {type(text).__name__}")
        m = self.margin(text)
        if m is None:
            return 0.0
        return round(1.0 / (1.0 + math.exp(-m)) if m > -700 else 0.0, 4)

    def score_many(self, texts: Iterable[str]) -> list[float]:
        return [self.score(t) for t in texts]


@lru_cache(maxsize=1)
def default_scorer() -> FinanceScorer:
    """The shipped model, loaded once per process."""
    return FinanceScorer.load()
