"""Speech in languages no bank of the demo holds: background and kept out.

eSpeak NG reads a few everyday sentences per language, in the language's
own voice and two variants; ``write_other_speech`` writes them as WAV files
(a bank's ``--router_background`` folder, or test speech it must name
unknown).

Example
-------
>>> import tempfile
>>> paths = write_other_speech(tempfile.mkdtemp(), ["es"], 2)
>>> [os.path.basename(p) for p in paths]
['es_000.wav', 'es_001.wav']

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import random

import soundfile

from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

#: Speech in other languages: a bank identifier's ``(other)`` label in training.
BACKGROUND = {
    "it": (
        "Domani andiamo al mare con i bambini.",
        "Non ho capito cosa hai detto.",
        "La cena è pronta, venite a tavola.",
        "Il treno per Milano parte alle otto.",
        "Mi piace molto leggere la sera.",
    ),
    "pt": (
        "Amanhã vamos à praia com as crianças.",
        "Não percebi o que disseste.",
        "O jantar está pronto, venham para a mesa.",
        "O comboio para Lisboa parte às oito.",
        "Gosto muito de ler à noite.",
    ),
    "nl": (
        "Morgen gaan we met de kinderen naar zee.",
        "Ik begreep niet wat je zei.",
        "Het eten is klaar, kom aan tafel.",
        "De trein naar Amsterdam vertrekt om acht uur.",
        "Ik lees graag 's avonds.",
    ),
    "pl": (
        "Jutro jedziemy z dziećmi nad morze.",
        "Nie zrozumiałem, co powiedziałeś.",
        "Kolacja jest gotowa, chodźcie do stołu.",
        "Pociąg do Krakowa odjeżdża o ósmej.",
        "Bardzo lubię czytać wieczorem.",
    ),
    "sv": (
        "I morgon åker vi till havet med barnen.",
        "Jag förstod inte vad du sa.",
        "Middagen är klar, kom till bordet.",
        "Tåget till Stockholm går klockan åtta.",
        "Jag tycker om att läsa på kvällen.",
    ),
    "tr": (
        "Yarın çocuklarla denize gidiyoruz.",
        "Ne dediğini anlamadım.",
        "Yemek hazır, sofraya gelin.",
        "Ankara treni saat sekizde kalkıyor.",
        "Akşamları kitap okumayı çok severim.",
    ),
}

#: Languages kept out of training entirely: unknown to a bank.
KEPT_OUT = {
    "es": (
        "Mi hermano compró un barco pequeño el verano pasado.",
        "¿Dónde pusiste las llaves del garaje?",
        "Los niños se reían en el jardín.",
        "Creo que deberíamos pintar la cocina de amarillo.",
        "El autobús llegó tarde otra vez esta mañana.",
        "Olvidó su paraguas en el restaurante.",
    ),
    "fr": (
        "Mon frère a acheté un petit bateau l'été dernier.",
        "Où as-tu mis les clés du garage ?",
        "Les enfants riaient dans le jardin.",
        "Je pense qu'on devrait peindre la cuisine en jaune.",
        "Le bus était encore en retard ce matin.",
        "Il a oublié son parapluie au restaurant.",
    ),
    "ru": (
        "Мой брат купил маленькую лодку прошлым летом.",
        "Куда ты положил ключи от гаража?",
        "Дети смеялись в саду.",
        "Я думаю, нам нужно покрасить кухню в жёлтый цвет.",
        "Автобус сегодня утром опять опоздал.",
        "Он забыл свой зонт в ресторане.",
    ),
}

#: Each language's voice variants.
VARIANTS = ("", "+m3", "+f2", "+m7", "+klatt")
SENTENCES = {**BACKGROUND, **KEPT_OUT}


def write_other_speech(folder, codes, count, seed=0):
    """Write ``count`` utterances per language code into ``folder``.

    Each is one sentence of ``SENTENCES[code]`` in a random variant of the
    language's voice, rate and pitch. Returns the paths.

    Example
    -------
    >>> import tempfile, soundfile
    >>> path, = write_other_speech(tempfile.mkdtemp(), ["ru"], 1, seed=3)
    >>> soundfile.info(path).duration > 0.5
    True
    """
    os.makedirs(folder, exist_ok=True)
    speaker, rng = Speaker(), random.Random(seed)
    paths = []
    for code in codes:
        for index in range(count):
            wav, rate = speaker.say(
                rng.choice(SENTENCES[code]),
                voice=code + rng.choice(VARIANTS),
                rate=rng.randint(120, 220),
                pitch=rng.randint(20, 80),
                pitch_range=rng.randint(20, 80),
            )
            paths.append(os.path.join(folder, f"{code}_{index:03d}.wav"))
            soundfile.write(paths[-1], wav, rate)
    return paths
