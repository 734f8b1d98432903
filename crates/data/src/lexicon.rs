//! The built-in world's two languages: English, and a second language written in
//! Chinese characters with Chinese grammar. Every word exists in both, so a fact or a
//! task can be rendered in either and means the same thing.

/// The language a document or task is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub const BOTH: [Lang; 2] = [Lang::En, Lang::Zh];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Picks this language's form of a word.
    pub fn pick<'a>(self, pair: &(&'a str, &'a str)) -> &'a str {
        match self {
            Lang::En => pair.0,
            Lang::Zh => pair.1,
        }
    }

    /// Between a prompt and its answer: a space in English, nothing in Chinese.
    pub fn answer_gap(self) -> &'static str {
        match self {
            Lang::En => " ",
            Lang::Zh => "",
        }
    }

    /// "he"/"she" or 他/她.
    pub fn pronoun(self, female: bool) -> &'static str {
        match (self, female) {
            (Lang::En, false) => "he",
            (Lang::En, true) => "she",
            (Lang::Zh, false) => "他",
            (Lang::Zh, true) => "她",
        }
    }
}

/// A job, with what a person doing it does every day (English third person present;
/// the Chinese verb phrase). No activity shares a stem or a character with its job's
/// name (not `baker` / `bakes bread`, not `画家` / `画画`): a model that prefers options
/// echoing the prompt's letters would otherwise pass job questions early in one language
/// and not the other (docs/builtin-study.md, pilot H).
pub struct Job {
    pub name: (&'static str, &'static str),
    pub activity: (&'static str, &'static str),
    /// The activity's first word (its verb), which the `ending` task gives in the prompt.
    pub verb: (&'static str, &'static str),
}

pub const JOBS: &[Job] = &[
    Job {
        name: ("baker", "面包师"),
        activity: ("kneads dough", "烤蛋糕"),
        verb: ("kneads", "烤"),
    },
    Job {
        name: ("farmer", "农民"),
        activity: ("ploughs the fields", "耕地"),
        verb: ("ploughs", "耕"),
    },
    Job {
        name: ("painter", "画家"),
        activity: ("draws pictures", "描绘风景"),
        verb: ("draws", "描"),
    },
    Job {
        name: ("doctor", "医生"),
        activity: ("heals the sick", "给病人看病"),
        verb: ("heals", "给"),
    },
    Job {
        name: ("teacher", "老师"),
        activity: ("instructs the children", "教孩子们读书"),
        verb: ("instructs", "教"),
    },
    Job {
        name: ("sailor", "水手"),
        activity: ("steers a boat", "驾船出海"),
        verb: ("steers", "驾"),
    },
    Job {
        name: ("miner", "矿工"),
        activity: ("digs for coal", "挖煤"),
        verb: ("digs", "挖"),
    },
    Job {
        name: ("weaver", "织工"),
        activity: ("spins wool", "纺纱"),
        verb: ("spins", "纺"),
    },
    Job {
        name: ("singer", "歌手"),
        activity: ("performs songs", "登台演唱"),
        verb: ("performs", "登"),
    },
    Job {
        name: ("guard", "卫兵"),
        activity: ("watches the gate", "守城门"),
        verb: ("watches", "守"),
    },
    Job {
        name: ("fisher", "渔夫"),
        activity: ("casts nets", "捕鱼"),
        verb: ("casts", "捕"),
    },
    Job {
        name: ("tailor", "裁缝"),
        activity: ("sews clothes", "制衣"),
        verb: ("sews", "制"),
    },
    Job {
        name: ("cook", "厨师"),
        activity: ("prepares the meals", "做饭"),
        verb: ("prepares", "做"),
    },
    Job {
        name: ("carpenter", "木匠"),
        activity: ("builds tables", "做桌子"),
        verb: ("builds", "做"),
    },
    Job {
        name: ("hunter", "猎人"),
        activity: ("tracks deer", "射鹿"),
        verb: ("tracks", "射"),
    },
    Job {
        name: ("smith", "铁匠"),
        activity: ("forges swords", "锻刀"),
        verb: ("forges", "锻"),
    },
    Job {
        name: ("potter", "陶工"),
        activity: ("shapes clay jars", "捏泥罐"),
        verb: ("shapes", "捏"),
    },
    Job {
        name: ("shepherd", "牧羊人"),
        activity: ("tends the flock", "看管牲口"),
        verb: ("tends", "看"),
    },
    Job {
        name: ("writer", "作家"),
        activity: ("composes stories", "写书"),
        verb: ("composes", "写"),
    },
    Job {
        name: ("gardener", "园丁"),
        activity: ("waters the flowers", "浇花"),
        verb: ("waters", "浇"),
    },
];

pub const COLOURS: &[(&str, &str)] = &[
    ("red", "红色"),
    ("blue", "蓝色"),
    ("green", "绿色"),
    ("yellow", "黄色"),
    ("white", "白色"),
    ("black", "黑色"),
    ("orange", "橙色"),
    ("purple", "紫色"),
];

/// An animal and its Chinese measure word (一只猫, 一匹马).
pub const ANIMALS: &[((&str, &str), &str)] = &[
    (("cat", "猫"), "只"),
    (("dog", "狗"), "条"),
    (("horse", "马"), "匹"),
    (("goat", "山羊"), "只"),
    (("owl", "猫头鹰"), "只"),
    (("fox", "狐狸"), "只"),
    (("crow", "乌鸦"), "只"),
    (("bear", "熊"), "只"),
];

/// Things counted in arithmetic problems, with their Chinese measure word.
pub const OBJECTS: &[((&str, &str), &str)] = &[
    (("apples", "苹果"), "个"),
    (("eggs", "鸡蛋"), "个"),
    (("books", "书"), "本"),
    (("coins", "硬币"), "枚"),
    (("fish", "鱼"), "条"),
    (("cakes", "蛋糕"), "块"),
    (("pencils", "铅笔"), "支"),
    (("stones", "石头"), "块"),
];

/// Name syllables: an onset and a vowel in English, one character in Chinese, so every
/// name has one spelling in each script.
pub const ONSETS: &[&str] = &[
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "kl",
];
pub const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou"];

/// One character per (onset, vowel) syllable, row by row: ONSETS.len() × VOWELS.len().
const SYLLABLE_CHARS: &str = "\
安白柏班宝贝本碧\
冰波伯布才采彩灿\
苍草茶昌长超辰晨\
成承诚春淳聪翠达\
丹道德迪定东冬朵\
恩凡方芳飞峰枫凤\
福富刚高歌格耕古\
谷冠光广桂国海涵\
寒翰豪浩和河荷恒\
红宏鸿华欢环辉惠\
慧吉佳嘉坚建江杰\
金锦晋京晶景静菊\
军俊凯康可克兰朗\
乐雷磊黎莉丽莲良\
林琳玲岭柳龙露路\
伦罗洛梅美萌梦敏\
明鸣墨木南楠宁诺\
鹏平萍琪启千强乔";

/// The character of syllable (onset, vowel).
pub fn syllable_char(onset: usize, vowel: usize) -> char {
    let i = onset * VOWELS.len() + vowel;
    SYLLABLE_CHARS
        .chars()
        .nth(i)
        .expect("one character per syllable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syllable_has_its_own_character() {
        let chars: Vec<char> = SYLLABLE_CHARS.chars().collect();
        assert_eq!(chars.len(), ONSETS.len() * VOWELS.len());
        let distinct: std::collections::HashSet<_> = chars.iter().collect();
        assert_eq!(distinct.len(), chars.len());
    }
}
