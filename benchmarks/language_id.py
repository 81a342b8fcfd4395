#!/usr/bin/env python3
"""A bank's language identifier, measured on speech its tests did not make.

Three bank languages (English, Mandarin, German) are spoken by eSpeak NG in
two generator settings that share no voice, no sentence and no prosody range:

* ``seen`` (training and development): many speakers, as a real corpus
  has (each language's voice with every eSpeak NG variant but the held-out
  ones, 87, and the plain voice: ``SEEN_VARIANTS``; English in three accents:
  American, British, West Midlands), sentences written for it
  (``SEEN_SENTENCES``), the demo corpora's sentences with their words in a
  new order, or strings of a language's everyday words (``WORDS``),
  moderate rates and pitches;
* ``held_out`` (test): 16 other variants (``HELD_OUT_VARIANTS``), other
  English accents (Scottish, Caribbean, New York, RP, Lancastrian:
  ``HELD_OUT_ACCENTS``), sentences written only for this benchmark, and
  wider rates, pitches and intonation ranges.

``--accents seen`` trains and tests English in all eight accents instead
(the test's speakers, sentences and prosody still held out), as Mandarin
and German are trained and tested on their one voice.

Speech in other languages teaches the identifier's ``(other)`` label
(twenty languages from Italian to Swahili:
``synthetic.other_languages.BACKGROUND``); Spanish, French and Russian
(``KEPT_OUT``) are kept out of everything but the test, where the bank
must name them ``unknown``.

Two identifiers are trained on the same utterances and compared on the
held-out test through the channels of ``routing_robustness.CONDITIONS``
plus Opus at about 12 kbit/s:

* ``ecapa``: ``bank.language_id_training.train_language_id`` (SpeechBrain's
  ECAPA-TDNN language ID, trained through ``speechbrain.augment``), served
  as a bank serves it (``PretrainedLanguageId`` and ``decide``);
* ``cepstral``: the bank's router before it (``routing_training.train_router``
  on utterance statistics of cepstra), which cannot name a language unknown.

For each it prints, per channel, the share of each language's test files
the bank routes to that language (``decide`` with the bank's guard: the
one the ECAPA identifier chose on its development speech, 0.9 for the
cepstral router, and 0.9 for both), the
share whose most probable language is right (no guard), the share of the
kept-out languages' files named unknown, and the share of known files
wrongly named unknown (false flags); and, on the first channel, the share
of each English accent's test files routed right (``by_accent``). The JSON
(``--output``) also keeps every test file's probabilities per channel.

> python benchmarks/language_id.py --output language_id.json
> python benchmarks/language_id.py --train 60 --test 20 --epochs 2   # quick
> python benchmarks/language_id.py --size voxlingua107 --device cuda  # on a GPU

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import logging
import os
import platform
import random
import tempfile
import time

import espeakng_loader
import torch
import torchaudio.functional as AF
from routing_robustness import CONDITIONS, lowest_bitrate

from speechbrain_lora_ser.bank.language_id import (
    UNKNOWN,
    PretrainedLanguageId,
    decide,
)
from speechbrain_lora_ser.bank.language_id_training import train_language_id
from speechbrain_lora_ser.bank.own_language_id import SIZES
from speechbrain_lora_ser.bank.routing import (
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    RouterFeatures,
)
from speechbrain_lora_ser.bank.routing_training import batch_features, train_router
from speechbrain_lora_ser.modeling.model import SSLEncoder
from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
from speechbrain_lora_ser.synthetic.demo_corpus import LANGUAGES as DEMO
from speechbrain_lora_ser.synthetic.other_languages import BACKGROUND, KEPT_OUT
from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

BANK = ("english", "mandarin", "german")

#: Sentences written for the held-out test only (none is in the demo corpora).
HELD_OUT_SENTENCES = {
    "english": (
        "My brother bought a small boat last summer.",
        "Where did you put the keys to the garage?",
        "The children were laughing in the garden.",
        "She has been working at the hospital for ten years.",
        "I think we should paint the kitchen yellow.",
        "Nobody answered the phone when I called.",
        "The bus was late again this morning.",
        "How much does a ticket to the coast cost?",
        "He forgot his umbrella at the restaurant.",
        "We watched an old film until midnight.",
    ),
    "mandarin": (
        "我哥哥去年夏天买了一条小船。",
        "你把车库的钥匙放在哪里了？",
        "孩子们在花园里笑得很开心。",
        "她在医院工作已经十年了。",
        "我觉得我们应该把厨房刷成黄色。",
        "我打电话的时候没有人接。",
        "今天早上公共汽车又晚了。",
        "去海边的票要多少钱？",
        "他把雨伞忘在饭店里了。",
        "我们看了一部老电影，一直看到半夜。",
    ),
    "german": (
        "Mein Bruder hat letzten Sommer ein kleines Boot gekauft.",
        "Wo hast du die Schlüssel für die Garage hingelegt?",
        "Die Kinder haben im Garten gelacht.",
        "Sie arbeitet seit zehn Jahren im Krankenhaus.",
        "Ich finde, wir sollten die Küche gelb streichen.",
        "Niemand ist ans Telefon gegangen, als ich angerufen habe.",
        "Der Bus war heute Morgen schon wieder zu spät.",
        "Wie viel kostet eine Fahrkarte an die Küste?",
        "Er hat seinen Regenschirm im Restaurant vergessen.",
        "Wir haben bis Mitternacht einen alten Film gesehen.",
    ),
}

#: Sentences of the seen setting, said as they are (written for this benchmark;
#: none is a held-out sentence): a real corpus is natural speech, not only
#: word strings, and an identifier trained on word strings alone heard held-out
#: English sentences in its seen accents as another language on 10-20 % of files.
SEEN_SENTENCES = {
    "english": (
        "I usually take the train to work.",
        "Could you pass me the salt, please?",
        "We are going to visit my grandparents on Sunday.",
        "The shop on the corner closes at six.",
        "Have you seen my glasses anywhere?",
        "It rained all day, so we stayed at home.",
        "She wants to learn how to play the piano.",
        "The meeting has been moved to Thursday afternoon.",
        "My phone battery is almost empty.",
        "They built a new bridge across the river.",
        "Do you want tea or coffee with your breakfast?",
        "I have never been to Australia.",
        "The dog barked at the postman again.",
        "Please turn off the lights when you leave.",
        "Our neighbours are having a party tonight.",
        "He reads the newspaper every morning.",
        "The museum is free on the first Sunday of the month.",
        "I lost my wallet on the way home.",
        "Can you help me carry these boxes upstairs?",
        "The soup needs a little more pepper.",
        "We should leave early to avoid the traffic.",
        "My sister is studying medicine in London.",
        "The film was much better than the book.",
        "What time does the pharmacy open tomorrow?",
        "I forgot to water the plants last week.",
        "The teacher asked us to write an essay.",
        "There is a strange noise coming from the engine.",
        "Let's meet in front of the cinema at eight.",
        "He fixed the old bicycle in the garage.",
        "The baby finally fell asleep after lunch.",
        "I am sorry, I did not hear what you said.",
        "We ran out of milk, so I went to the store.",
        "The new restaurant downtown is always full.",
        "Don't forget to bring your passport.",
        "My grandfather grew up on a farm.",
        "The price of bread went up again.",
        "She painted a picture of the harbour.",
        "How long have you lived in this city?",
        "The flight was delayed because of the fog.",
        "I'd like to book a table for four people.",
    ),
    "german": (
        "Ich fahre normalerweise mit dem Zug zur Arbeit.",
        "Kannst du mir bitte das Salz geben?",
        "Am Sonntag besuchen wir meine Großeltern.",
        "Der Laden an der Ecke schließt um sechs.",
        "Hast du irgendwo meine Brille gesehen?",
        "Es hat den ganzen Tag geregnet, also sind wir zu Hause geblieben.",
        "Sie möchte Klavier spielen lernen.",
        "Die Besprechung ist auf Donnerstagnachmittag verschoben worden.",
        "Der Akku von meinem Handy ist fast leer.",
        "Sie haben eine neue Brücke über den Fluss gebaut.",
        "Möchtest du Tee oder Kaffee zum Frühstück?",
        "Ich war noch nie in Australien.",
        "Der Hund hat den Briefträger wieder angebellt.",
        "Bitte mach das Licht aus, wenn du gehst.",
        "Unsere Nachbarn feiern heute Abend eine Party.",
        "Er liest jeden Morgen die Zeitung.",
        "Das Museum ist am ersten Sonntag im Monat kostenlos.",
        "Ich habe auf dem Heimweg mein Portemonnaie verloren.",
        "Kannst du mir helfen, die Kisten nach oben zu tragen?",
        "Die Suppe braucht noch ein bisschen Pfeffer.",
        "Wir sollten früh losfahren, um den Stau zu vermeiden.",
        "Meine Schwester studiert Medizin in München.",
        "Der Film war viel besser als das Buch.",
        "Wann macht die Apotheke morgen auf?",
        "Ich habe letzte Woche vergessen, die Pflanzen zu gießen.",
        "Die Lehrerin hat uns einen Aufsatz schreiben lassen.",
        "Aus dem Motor kommt ein seltsames Geräusch.",
        "Treffen wir uns um acht vor dem Kino.",
        "Er hat das alte Fahrrad in der Garage repariert.",
        "Das Baby ist nach dem Mittagessen endlich eingeschlafen.",
        "Entschuldigung, ich habe nicht verstanden, was du gesagt hast.",
        "Die Milch war alle, also bin ich einkaufen gegangen.",
        "Das neue Restaurant in der Innenstadt ist immer voll.",
        "Vergiss deinen Reisepass nicht.",
        "Mein Großvater ist auf einem Bauernhof aufgewachsen.",
        "Das Brot ist schon wieder teurer geworden.",
        "Sie hat ein Bild vom Hafen gemalt.",
        "Wie lange wohnst du schon in dieser Stadt?",
        "Der Flug hatte wegen des Nebels Verspätung.",
        "Ich möchte einen Tisch für vier Personen reservieren.",
    ),
    "mandarin": (
        "我一般坐火车去上班。",
        "请把盐递给我，好吗？",
        "星期天我们要去看爷爷奶奶。",
        "拐角的那家商店六点关门。",
        "你看到我的眼镜了吗？",
        "下了一整天的雨，所以我们待在家里。",
        "她想学弹钢琴。",
        "会议改到星期四下午了。",
        "我的手机快没电了。",
        "他们在河上建了一座新桥。",
        "早饭你想喝茶还是喝咖啡？",
        "我从来没去过澳大利亚。",
        "那条狗又对着邮递员叫了。",
        "你走的时候请把灯关掉。",
        "我们的邻居今天晚上开派对。",
        "他每天早上看报纸。",
        "每个月的第一个星期天博物馆免费开放。",
        "我在回家的路上把钱包丢了。",
        "你能帮我把这些箱子搬到楼上吗？",
        "这个汤还需要放一点胡椒。",
        "我们应该早点出发，免得堵车。",
        "我妹妹在上海学医。",
        "这部电影比那本书好看多了。",
        "药店明天几点开门？",
        "上个星期我忘了给花浇水。",
        "老师让我们写一篇作文。",
        "发动机里传来一种奇怪的声音。",
        "我们八点在电影院门口见吧。",
        "他在车库里修好了那辆旧自行车。",
        "宝宝吃完午饭终于睡着了。",
        "对不起，我没听清楚你说什么。",
        "牛奶喝完了，所以我去了超市。",
        "市中心那家新饭馆总是客满。",
        "别忘了带护照。",
        "我爷爷是在农村长大的。",
        "面包又涨价了。",
        "她画了一幅港口的画。",
        "你在这个城市住了多久了？",
        "因为有雾，航班推迟了。",
        "我想订一张四个人的桌子。",
    ),
}

#: Everyday words of each language: the seen setting's utterances are drawn
#: from them (and the demo sentences' words), so the identifier hears a
#: language's sounds rather than a dozen sentences' words, as it would in a
#: real corpus of thousands of speakers and topics.
WORDS = {
    "english": """
        about after again air all almost along also always animal another answer
        around ask away back because become before begin behind believe below
        between big black blue body book both bring brother build business buy
        call car carry change child city close cold come country course cover
        cut dark daughter day different dinner doctor door down draw dream drive
        during early earth eat either end enough even evening every example eye
        face fact family far father feel few field find fire first fish follow
        food foot friend front full game garden girl give glass good great green
        ground group grow hand happy hard head hear heart heavy help high hold
        home horse hour house idea important inside island just keep kind know
        land language large late laugh learn leave letter life light little
        long look love machine make many market money month morning mother
        mountain much music name near never new next night nothing number ocean
        office often old only open other outside paper party people picture
        place plant play please point poor power problem question quick quiet
        rain read ready remember rich river road room round run school science
        second see sentence several ship short should show side simple sister
        sleep slow small snow song soon sound speak spring stand start station
        still stone story street strong student summer sun surprise table take
        teacher thank thing think thousand through today together tomorrow town
        travel tree true turn under until usual village visit voice wait walk
        warm watch water weather week white whole wind window winter woman
        wonder word work world write wrong yellow young
    """,
    "german": """
        aber abend alle allein alt andere anfang antwort arbeit arm auch auge
        auto bahn bald baum bekommen berg beruf besser bett bild bitte blau
        bleiben blume boden brief bringen brot bruder buch dach danke dann
        denken deutsch dorf draußen drei dunkel durch einfach ende endlich
        erde essen fahren fall familie farbe fenster fest feuer finden fisch
        fleisch fliegen frage frau frei freund frieden früh Fuß ganz garten
        geben gehen geld gerade gesicht gestern glas glauben gleich Glück gross
        grün gut haben hals hand haus heiß helfen herbst heute hier himmel
        hoch hören hund immer jahr jetzt jung kalt kaufen kind kirche klein
        kommen können kopf Küche kurz lachen land lang laufen laut leben leicht
        lernen lesen leute licht lieben machen mann markt meer mensch milch
        mittag monat morgen musik mutter nacht Nähe name nehmen neu nicht
        oben offen ohne onkel ort papier platz regen reise richtig ruhig sagen
        schiff schlafen schnee schnell schon schreiben schule schwester see
        sehen sehr sitzen sommer sonne spielen sprache stadt stark stehen stein
        stimme Straße stunde suchen tag tante tisch tochter tragen traum Tür
        über uhr unter vater viel vogel voll wald wandern warm warten wasser
        weg weiß welt wenig wetter wieder wind winter wissen woche wohnen
        wort zeit zeitung ziehen zimmer zug zusammen
    """,
    "mandarin": """
        爱 八 爸爸 白 班 半 帮助 报纸 北京 杯子 本 比 别人 宾馆 病 不 菜 茶 长
        唱歌 车 吃 出 穿 船 春天 词 大 打 但是 到 的 等 地方 弟弟 点 电脑 电视
        东西 冬天 懂 读 对 多 饿 儿子 二 饭 房间 飞机 非常 分钟 服务员 高 哥哥
        歌 给 跟 工作 公司 狗 贵 国家 还 孩子 汉语 好 喝 和 很 红 后面 花 画
        话 坏 欢迎 回 会 火车 机场 鸡蛋 家 见 教室 叫 姐姐 今天 进 近 九 就
        觉得 咖啡 开 看 考试 可以 课 快 快乐 来 蓝 老师 冷 离 里 两 零 路 妈妈
        马 买 慢 忙 猫 没有 每 美 门 米饭 面条 名字 明天 哪 那 男 南 你 年 鸟
        您 牛奶 女儿 旁边 朋友 便宜 漂亮 苹果 七 起床 钱 前面 轻 晴 请 秋天
        去 热 人 认识 日 三 山 商店 上 少 谁 身体 生日 十 时候 是 手 书 水
        睡觉 说 四 送 岁 他 她 太 天气 跳舞 听 同学 图书馆 外 玩 晚上 我 五
        西瓜 洗 喜欢 下 夏天 先生 现在 想 小 笑 写 谢谢 新 星期 学生 学习 雪
        颜色 眼睛 羊 药 要 也 一 衣服 医生 已经 椅子 因为 阴 音乐 有 右边 鱼
        雨 远 月 云 再见 在 早上 怎么 站 找 这 真 知道 中国 中午 猪 住 桌子
        字 走 最 昨天 左边 坐 做
    """,
}
WORDS = {language: words.split() for language, words in WORDS.items()}


#: Each language's base voices (accents): those of its training corpus and
#: those of its test (the speakers are other voice variants either way).
#: With ``--accents held_out`` (the default) five English accents are kept
#: for the test (``HELD_OUT_ACCENTS``): does the identifier carry English to
#: accents it never heard? With ``--accents seen`` English is trained and
#: tested in all eight, as Mandarin and German on their one voice.
ENGLISH_ACCENTS = ("en-us", "en", "en-gb-x-gbcwmd")
HELD_OUT_ACCENTS = (
    "en-gb-scotland",
    "en-029",
    "en-us-nyc",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
)
VOICES = {
    "seen": {
        "english": (ENGLISH_ACCENTS + HELD_OUT_ACCENTS,) * 2,
        "mandarin": (("cmn",), ("cmn",)),
        "german": (("de",), ("de",)),
    },
    "held_out": {
        "english": (ENGLISH_ACCENTS, HELD_OUT_ACCENTS),
        "mandarin": (("cmn",), ("cmn",)),
        "german": (("de",), ("de",)),
    },
}
#: eSpeak NG voice variants (speakers) of each setting; none in both. The
#: seen setting has every variant eSpeak NG ships but the held-out ones (and
#: those whose names hold a space), as a real corpus has many speakers.
VARIANTS_FOLDER = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
HELD_OUT_VARIANTS = (
    "+m6",
    "+m7",
    "+m8",
    "+f2",
    "+f5",
    "+klatt2",
    "+klatt4",
    "+Annie",
    "+Mike",
    "+edward",
    "+linda",
    "+norbert",
    "+grandma",
    "+iven",
    "+paul",
    "+zac",
)


SEEN_VARIANTS = ("",) + tuple(
    f"+{name}"
    for name in sorted(os.listdir(VARIANTS_FOLDER))
    if " " not in name and f"+{name}" not in HELD_OUT_VARIANTS
)


def voices(bases, variants):
    """Every base voice with every variant."""
    return tuple(base + variant for base in bases for variant in variants)


#: Generator settings: eSpeak words per minute, pitch and pitch range.
SEEN = {"rate": (140, 200), "pitch": (35, 65), "pitch_range": (30, 70)}
HELD_OUT = {"rate": (105, 250), "pitch": (15, 90), "pitch_range": (5, 95)}


def opus(wav):
    """Encode to Ogg Opus at libsndfile's lowest bitrate and decode again."""
    return lowest_bitrate(wav, "OGG", "OPUS")


def channels(names):
    """Return the held-out channels: ``routing_robustness``'s and Opus."""
    table = {**CONDITIONS, "opus": lambda wav, g: opus(wav)}
    return {name: table[name] for name in names}


def _words(sentences, rng, words=None, said=None):
    """One training utterance: words of a sentence or of ``words``, reordered.

    Half the time (given ``said``) one of ``said`` as it is; otherwise the
    words of one of ``sentences`` reordered, or (half the time, given
    ``words``) four to ten words of the language drawn at random.
    """
    if said and rng.random() < 0.5:
        return rng.choice(said)
    sentence = rng.choice(sentences).rstrip(".?!。？")
    spaced = " " in sentence
    if words and rng.random() < 0.5:
        pieces = rng.sample(words, rng.randint(4, 10))
    else:
        pieces = sentence.split() if spaced else list(sentence)
        rng.shuffle(pieces)
    return (" " if spaced else "").join(pieces)


def speak(speaker, text, voice, setting, rng):
    """Say ``text`` with a random rate, pitch and range; 16-kHz tensor."""
    wav, rate = speaker.say(
        text,
        voice=voice,
        rate=rng.randint(*setting["rate"]),
        pitch=rng.randint(*setting["pitch"]),
        pitch_range=rng.randint(*setting["pitch_range"]),
    )
    return AF.resample(torch.from_numpy(wav), rate, 16000)


def utterances(
    speaker,
    sentences,
    voices,
    setting,
    count,
    rng,
    shuffled,
    words=None,
    said=None,
    said_by=None,
):
    """``count`` utterances of one or two sentences (or word strings) each.

    Each utterance's base voice (its accent) is appended to ``said_by``.
    """
    wavs = []
    for _ in range(count):
        texts = [
            _words(sentences, rng, words, said) if shuffled else rng.choice(sentences)
            for _ in range(rng.randint(1, 2))
        ]
        voice = rng.choice(voices)
        wavs.append(speak(speaker, ". ".join(texts), voice, setting, rng))
        if said_by is not None:
            said_by.append(voice.split("+")[0])
    return wavs


def write_sets(sizes, seed, accents_split="seen"):
    """Training, development and test waveforms (see the module's notes).

    Also each bank language's test accents (base voices), in order.
    ``accents_split`` picks the accents of ``VOICES``.
    """
    speaker, rng = Speaker(), random.Random(seed)
    train, valid, test, accents = {}, {}, {}, {}
    for language in BANK:
        sentences = DEMO[language][0]
        seen, held_out = VOICES[accents_split][language]
        train[language], valid[language] = (
            utterances(
                speaker,
                sentences,
                voices(seen, SEEN_VARIANTS),
                SEEN,
                size,
                rng,
                True,
                WORDS[language],
                SEEN_SENTENCES[language],
            )
            for size in sizes[:2]
        )
        accents[language] = []
        test[language] = utterances(
            speaker,
            HELD_OUT_SENTENCES[language],
            voices(held_out, HELD_OUT_VARIANTS),
            HELD_OUT,
            sizes[2],
            rng,
            False,
            said_by=accents[language],
        )
    background = []
    for size in sizes[:2]:
        background.append(
            [
                w
                for code, sentences in BACKGROUND.items()
                for w in utterances(
                    speaker,
                    sentences,
                    voices((code,), SEEN_VARIANTS),
                    SEEN,
                    max(size // len(BACKGROUND), 2),
                    rng,
                    True,
                )
            ]
        )
    for code, sentences in KEPT_OUT.items():
        test[code] = utterances(
            speaker,
            sentences,
            voices((code,), HELD_OUT_VARIANTS),
            HELD_OUT,
            sizes[3],
            rng,
            False,
        )
    return train, valid, test, background, accents


def heard_through(wavs, channel, offset):
    """Each waveform through one channel (seeded per utterance)."""
    return [
        channel(wav, torch.Generator().manual_seed(10_000 + offset + i))
        for i, wav in enumerate(wavs)
    ]


def ecapa_probabilities(folder, device="cpu"):
    """Serve the trained identifier as a bank does; return its probabilities."""
    identifier = PretrainedLanguageId(
        folder, {language: [language] for language in BANK}, list(BANK)
    )
    identifier.classifier.mods.to(device)
    identifier.classifier.device = device

    def probabilities(wavs):
        lens = torch.ones(1, device=device)
        rows = [identifier(wav.unsqueeze(0).to(device), lens)[0] for wav in wavs]
        return torch.cat(rows).cpu()

    probabilities.parameters = sum(
        p.numel() for p in identifier.classifier.mods.parameters()
    )

    return probabilities


def cepstral_probabilities(router, features):
    """Return the cepstral router's probabilities, ``unknown`` column 0."""

    def probabilities(wavs):
        with torch.no_grad():
            routed = router(batch_features(features, wavs, 8))
        return torch.cat([routed, torch.zeros(len(wavs), 1)], dim=1)

    return probabilities


def measure(probabilities, test, conditions, guards, accents):
    """Per guard and channel: routed right, argmax right, unknown named.

    Also, per guard, each accent's share routed right on the first channel
    (the accents of a language with more than one), and each file's
    probabilities per channel and language (to study other decisions).
    """
    tables = {guard: {} for guard in guards}
    by_accent, heard_by_channel = {}, {}
    for name, channel in conditions.items():
        heard = {
            language: probabilities(heard_through(wavs, channel, 1000 * offset))
            for offset, (language, wavs) in enumerate(test.items())
        }
        heard_by_channel[name] = {
            language: [[round(x, 4) for x in row] for row in p.tolist()]
            for language, p in heard.items()
        }
        for guard in guards:
            tables[guard][name] = {
                language: _rates(p, language, guard) for language, p in heard.items()
            }
        print(f"  {name}: " + _summary(tables[guards[0]][name]), flush=True)
        if not by_accent:
            by_accent = {
                guard: _accent_rates(heard, accents, guard, name) for guard in guards
            }
    return tables, by_accent, heard_by_channel


def _accent_rates(heard, accents, guard, channel):
    """Share of each accent's files routed right, for languages with several."""
    rates = {}
    for language, said_by in accents.items():
        if len(set(said_by)) < 2:
            continue
        _, names, _, _ = decide(heard[language], list(BANK), guard)
        for accent in sorted(set(said_by)):
            mine = [n for n, a in zip(names, said_by, strict=True) if a == accent]
            rates[accent] = sum(n == language for n in mine) / len(mine)
    if rates:
        shown = ", ".join(f"{a} {100 * r:.0f} % " for a, r in rates.items())
        print(f"  by accent ({channel}, guard {guard}): {shown}", flush=True)
    return rates


def _rates(p, language, guard):
    """Shares of one language's files routed right, most probable, unknown."""
    _, names, _, _ = decide(p, list(BANK), guard)
    expected = language if language in BANK else UNKNOWN
    return {
        "routed": sum(n == expected for n in names) / len(names),
        "argmax": float((p.argmax(-1) == BANK.index(language)).float().mean())
        if language in BANK
        else None,
        "unknown": sum(n == UNKNOWN for n in names) / len(names),
    }


def _summary(row):
    known = " ".join(
        f"{lang[:2]} {row[lang]['routed']:.0%}" for lang in row if lang in BANK
    )
    false = max(row[lang]["unknown"] for lang in row if lang in BANK)
    flagged = " ".join(
        f"{lang} {row[lang]['unknown']:.0%}" for lang in row if lang not in BANK
    )
    return f"routed {known}; unknown named: {flagged}; false flags <= {false:.0%}"


def print_table(name, table):
    """Print a markdown table: routed right, unknown named, false flags."""
    print(f"\n{name}: % routed right (no guard: argmax) en/zh/de; unknown named")
    print("| channel | routed | argmax | unknown es/fr/ru | false flags |")
    print("| --- | --- | --- | --- | --- |")
    for channel, row in table.items():
        routed = "/".join(f"{100 * row[lang]['routed']:.0f}" for lang in BANK)
        argmax = "/".join(f"{100 * row[lang]['argmax']:.0f}" for lang in BANK)
        unknown = "/".join(
            f"{100 * row[lang]['unknown']:.0f}" for lang in row if lang not in BANK
        )
        false = "/".join(f"{100 * row[lang]['unknown']:.0f}" for lang in BANK)
        print(f"| {channel} | {routed} | {argmax} | {unknown} | {false} |")


def main():
    """Write the speech, train each identifier, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=1200, help="per language")
    parser.add_argument("--valid", type=int, default=40)
    parser.add_argument("--test", type=int, default=100, help="per bank language")
    parser.add_argument("--unknown", type=int, default=60, help="per kept-out one")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--guard",
        type=float,
        default=None,
        help="the bank's guard (default: the one ECAPA chose on its development "
        f"speech; {DEFAULT_MIN_LANGUAGE_PROBABILITY:g} for the cepstral router)",
    )
    parser.add_argument(
        "--channels",
        nargs="+",
        default=[
            "clean",
            "telephone",
            "loud_clipped_noisy",
            "quiet",
            "reverb",
            "slower",
            "faster",
            "mp3",
            "opus",
            "gsm",
            "muffled",
            "music",
        ],
    )
    parser.add_argument("--routers", nargs="+", default=["ecapa", "cepstral"])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="bank",
        help="the ECAPA identifier's sizes (ser-bank's --router_size)",
    )
    parser.add_argument(
        "--device", default="cpu", help="where ECAPA trains and is served"
    )
    parser.add_argument(
        "--accents",
        choices=sorted(VOICES),
        default="held_out",
        help="English's test accents: five the training lacks, or its own",
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    logging.basicConfig(format="%(message)s")  # the identifiers' training
    logging.getLogger("speechbrain_lora_ser.bank").setLevel(logging.INFO)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}"
    )
    started = time.perf_counter()
    sizes = (args.train, args.valid, args.test, args.unknown)
    train, valid, test, background, accents = write_sets(sizes, args.seed, args.accents)
    print(
        f"speech written in {time.perf_counter() - started:.0f} s: "
        f"{sizes[0]}/{sizes[1]} per language and {len(background[0])}/"
        f"{len(background[1])} (other) to train/develop; {sizes[2]} held-out "
        f"per bank language, {sizes[3]} per kept-out language",
        flush=True,
    )
    conditions = channels(args.channels)
    results = {"settings": vars(args), "routers": {}}
    work = tempfile.mkdtemp()
    for name in args.routers:
        started = time.perf_counter()
        if name == "ecapa":
            folder = os.path.join(work, "language_id")
            report = train_language_id(
                [train[lang] for lang in BANK],
                [valid[lang] for lang in BANK],
                list(BANK),
                folder,
                epochs=args.epochs,
                sizes=SIZES[args.size],
                background=background,
                work_folder=os.path.join(work, "rooms"),
                seed=args.seed,
                device=args.device,
            )
            probabilities = ecapa_probabilities(folder, args.device)
            guard = report["guard"]
            report["parameters"] = probabilities.parameters
        else:
            encoder = SSLEncoder(save_tiny_encoder(os.path.join(work, "tiny"))).eval()
            features = RouterFeatures(encoder)
            router = train_router(
                features, [train[lang] for lang in BANK], [valid[lang] for lang in BANK]
            )
            report = {"labels": list(BANK)}
            probabilities = cepstral_probabilities(router, features)
            guard = DEFAULT_MIN_LANGUAGE_PROBABILITY
        trained = time.perf_counter() - started
        print(f"{name}: trained in {trained:.0f} s ({report})", flush=True)
        guard = guard if args.guard is None else args.guard
        guards = sorted({guard, DEFAULT_MIN_LANGUAGE_PROBABILITY}, key=guard.__ne__)
        tables, by_accent, heard = measure(
            probabilities, test, conditions, guards, accents
        )
        results["routers"][name] = {
            "train_seconds": trained,
            "parameters": report.get("parameters"),
            "guard": guard,
            "table": tables[guard],
            "by_guard": {str(g): table for g, table in tables.items()},
            "by_accent": {str(g): rates for g, rates in by_accent.items()},
            "probabilities": heard,
            "test_accents": accents,
        }
    for name, entry in results["routers"].items():
        for guard, table in entry["by_guard"].items():
            print_table(f"{name}, guard {guard}", table)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
