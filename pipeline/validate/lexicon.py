"""Curated word lists for claim extraction: auditory cues, meta talk, and sources/paraphrases → AudioSet labels.

Why curated: teacher chains name sounds by their *source* ("the crowd", "the band") or by paraphrase ("a wailing tone
that rises and falls"), and a sentence embedding matches those to AudioSet's terse names poorly. The label lists use
YAMNet's exact display names; names a given tagger lacks are ignored. Patterns are matched case-insensitively on a
claim (or on a negation's scope). Keep entries general: they are written for sounds, not for the test clips.
"""

from __future__ import annotations

import re

# Bump on any change to these lists: it is part of every sound-event and judge verdict's validator_version.
LEXICON_VERSION = "v1"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SPEECH_VERBS = (
    r"speak|speaks|speaking|spoke|talk|talks|talking|talked|chat|chats|chatting|chatter|say|says|saying|said"
    r"|explain|explains|explaining|narrat\w*|convers\w*|discuss\w*|announc\w*"
    r"|whisper\w*|shout\w*|yell\w*|scream\w*|call out|calls out|voice|voices|speech|words?|dialogue|commentary"
    r"|interview\w*|lectur\w*|sermon|monologue|narration"
)

# A clause must carry one of these to count as a claim about sound.
AUDITORY_CUES = _rx(
    r"\b(?:hear|hears|heard|hearing|audible|inaudible|listen\w*|sound|sounds|sounding|noise|noises|noisy|audio"
    r"|soundtrack|tone|tones|pitch|loud|louder|loudly|quiet|quietly|silen\w*|volume|ring|rings|ringing|rang"
    r"|music|musical|melod\w*|tune|tunes|song|songs|sing|sings|singing|sang|hum|hums|humming|chord|chords|beat|beats"
    r"|rhythm\w*|play|plays|playing|played|jingle|strum\w*|drum\w*|" + _SPEECH_VERBS + r"|laugh\w*|giggl\w*|cheer\w*"
    r"|applau\w*|clap\w*|cry|cries|crying|sob\w*|bark\w*|meow\w*|purr\w*|moo|moos|neigh\w*|bleat\w*|chirp\w*"
    r"|tweet\w*|cluck\w*|crow|crows|crowing|coo|coos|cooing|quack\w*|honk\w*|howl\w*|growl\w*|hiss\w*|buzz\w*"
    r"|whin\w*|whir\w*|roar\w*|rumbl\w*|revv?\w*|clatter\w*|clack\w*|click\w*|tap|taps|tapping|knock\w*|bang\w*"
    r"|boom\w*|blast\w*|explo\w*|shot|shots|gunshot\w*|gunfire|fire|fires|firing|rattl\w*|crack\w*|pop|pops|popping"
    r"|splash\w*|pour\w*|drip\w*|trickl\w*|gurgl\w*|crackl\w*|sizzl\w*|whoosh\w*|whistl\w*|beep\w*|siren\w*|wail\w*"
    r"|alarm\w*|honking|horn|horns|tick\w*|chim\w*|echo\w*|thud\w*|thump\w*|screech\w*|squeal\w*|squeak\w*|creak\w*"
    r"|rustl\w*|crunch\w*|snor\w*|cough\w*|sneez\w*|breath\w*|footstep\w*|hammer\w*|saw|sawing|drill\w*"
    r"|engine|engines|motor|motors|idl\w*|roaring|purring|pound\w*|thunder\w*|crash\w*|shatter\w*|jangl\w*"
    r"|clink\w*|clang\w*|ding\w*|dong|bell|bells|toll\w*|chant\w*|mutter\w*|murmur\w*|groan\w*|moan\w*|sigh\w*"
    r"|gasp\w*|pant\w*|grunt\w*|wheez\w*|squawk\w*|caw\w*|hoot\w*|croak\w*|babbl\w*|hubbub|din|racket|clamou?r)\b"
)

# Sentences about the task itself, not about the clip.
META_CUES = _rx(r"\b(?:question|questions|answer|answers|option|options|choice|choices|correct|incorrect)\b")

# Visual-only verbs: a clause with these and no auditory cue is a description of the picture.
VISUAL_ONLY = _rx(
    r"\b(?:show|shows|shown|showing|see|sees|seen|visible|appear\w*|look\w*|wear\w*|hold\w*|sit\w*|sat|stand\w*"
    r"|stood|frame|frames|image|picture|scene|video)\b"
)

_CROWD = ["Crowd", "Cheering", "Applause", "Chatter", "Hubbub, speech noise, speech babble"]
_BAND = ["Music", "Musical instrument", "Drum", "Drum kit", "Guitar", "Bass guitar", "Electric guitar",
         "Keyboard (musical)", "Rock music", "Pop music"]
_SPEECH = ["Speech", "Conversation", "Narration, monologue", "Male speech, man speaking",
           "Female speech, woman speaking", "Child speech, kid speaking"]
_GUNS = ["Gunshot, gunfire", "Machine gun", "Fusillade", "Artillery fire", "Cap gun"]
_SIREN = ["Siren", "Civil defense siren", "Emergency vehicle", "Police car (siren)", "Ambulance (siren)",
          "Fire engine, fire truck (siren)"]
_ENGINE = ["Engine", "Light engine (high frequency)", "Medium engine (mid frequency)", "Heavy engine (low frequency)",
           "Idling", "Accelerating, revving, vroom", "Engine starting"]
_TYPING = ["Typing", "Computer keyboard", "Typewriter"]
_BIRDS = ["Bird", "Bird vocalization, bird call, bird song", "Chirp, tweet", "Pigeon, dove", "Coo", "Crow", "Caw",
          "Squawk", "Bird flight, flapping wings", "Fowl", "Chicken, rooster", "Cluck"]
_DRUMS = ["Drum", "Drum kit", "Bass drum", "Snare drum", "Drum roll", "Drum machine", "Percussion", "Timpani", "Tabla"]
_WATER = ["Water", "Liquid", "Splash, splatter", "Pour", "Drip", "Trickle, dribble", "Gush", "Stream",
          "Water tap, faucet", "Sink (filling or washing)", "Bathtub (filling or washing)", "Toilet flush"]

# (pattern, labels): every matching pattern contributes its labels to the claim.
LEXICON: list[tuple[re.Pattern[str], list[str]]] = [
    # people
    (_rx(r"\b(?:" + _SPEECH_VERBS + r")\b|\bnobody says\b|\bno one says\b"), _SPEECH),
    (_rx(r"\b(?:laugh\w*|chuckl\w*|giggl\w*|snicker\w*)"), ["Laughter", "Chuckle, chortle", "Giggle", "Snicker",
                                                          "Belly laugh"]),
    (_rx(r"\b(?:crowd|audience|spectators|fans|onlookers|people cheer\w*)\b"), _CROWD),
    (_rx(r"\b(?:cheer(?!ful)\w*|whoop\w*)"), ["Cheering", "Crowd", "Whoop"]),
    (_rx(r"\b(?:applau\w*|clap\w*|ovation)"), ["Applause", "Clapping"]),
    (_rx(r"\b(?:sing|sings|singing|sang|singer|vocals?|vocalist|choir|chant\w*)\b"), ["Singing", "Choir", "Chant",
                                                                                    "Vocal music", "Song"]),
    (_rx(r"\b(?:cry|cries|crying|sob\w*|weep\w*|wail\w* baby|baby cr\w*)\b"), ["Crying, sobbing",
                                                                               "Baby cry, infant cry", "Whimper"]),
    (_rx(r"\b(?:footsteps?|walking|running|stomp\w*)\b"), ["Walk, footsteps", "Run", "Shuffle"]),
    (_rx(r"\b(?:cough\w*|sneez\w*|breath\w*|snor\w*)"), ["Cough", "Sneeze", "Breathing", "Snoring"]),
    (_rx(r"\bwhistl\w*"), ["Whistling", "Whistle"]),
    # music
    (_rx(r"\b(?:band|bands|orchestra|ensemble|group plays|concert|gig)\b"), _BAND + ["Orchestra"]),
    (_rx(r"\b(?:music\w*|melod\w*|tune|tunes|song|songs|chords?|harmon\w*|jingle|soundtrack|instrument\w*)\b"),
     ["Music", "Musical instrument"]),
    (_rx(r"\bjingle\b"), ["Jingle (music)", "Jingle, tinkle"]),
    (_rx(r"\b(?:organ|organs|organist)\b"), ["Organ", "Electronic organ", "Hammond organ", "Keyboard (musical)"]),
    (_rx(r"\b(?:piano|pianist|keyboardist|synth\w*|electric piano)\b"), ["Piano", "Electric piano",
                                                                        "Keyboard (musical)", "Synthesizer"]),
    (_rx(r"\b(?:electronic keyboard|keyboard chords|keyboard melody|keys of the (?:piano|organ))\b"),
     ["Keyboard (musical)", "Electronic organ", "Electric piano", "Synthesizer"]),
    (_rx(r"\b(?:guitar\w*|strum\w*|riff\w*|banjo|ukulele|mandolin|sitar|plucked)\b"),
     ["Guitar", "Acoustic guitar", "Electric guitar", "Plucked string instrument", "Strum", "Banjo", "Ukulele"]),
    (_rx(r"\b(?:bass guitar|bassline|bass line)\b"), ["Bass guitar", "Double bass"]),
    (_rx(r"\b(?:violin\w*|fiddl\w*|cello\w*|viola|bow\b[^.]{0,30}\bstrings?|bowed|string section|strings)\b"),
     ["Violin, fiddle", "Bowed string instrument", "Cello", "String section", "Pizzicato", "Double bass"]),
    (_rx(r"\b(?:drum\w*|percussion\w*|beat|beats|pounding|thumping|cymbals?|snare|hi-hat|tabla|bongos?)\b"), _DRUMS),
    (_rx(r"\b(?:trumpet\w*|trombone\w*|brass|horn section|french horn|tuba)\b"), ["Brass instrument", "Trumpet",
                                                                                "Trombone", "French horn"]),
    (_rx(r"\b(?:flute\w*|clarinet\w*|sax\w*|woodwind\w*|oboe|recorder|bagpipe\w*|harmonica|accordion)\b"),
     ["Wind instrument, woodwind instrument", "Flute", "Saxophone", "Clarinet", "Bagpipes", "Harmonica",
      "Accordion"]),
    (_rx(r"\b(?:xylophone|marimba|glockenspiel|vibraphone|mallet\w*|steel ?pan|steel drum)\b"),
     ["Mallet percussion", "Marimba, xylophone", "Glockenspiel", "Vibraphone", "Steelpan"]),
    (_rx(r"\b(?:harp|harpist)\b"), ["Harp"]),
    (_rx(r"\b(?:bell|bells|chime\w*|ding-dong|toll\w*|gong)\b"), ["Bell", "Church bell", "Chime", "Jingle bell",
                                                                   "Ding-dong", "Gong", "Tubular bells"]),
    # animals
    (_rx(r"\b(?:dog|dogs|puppy|puppies|bark\w*|woof\w*|yelp\w*|growl\w*|howl\w*)\b"),
     ["Dog", "Bark", "Bow-wow", "Yip", "Howl", "Growling", "Canidae, dogs, wolves"]),
    (_rx(r"\b(?:cat|cats|kitten\w*|meow\w*|purr\w*)\b"), ["Cat", "Meow", "Purr", "Caterwaul"]),
    (_rx(r"\b(?:birds?|chirp\w*|tweet\w*|songbirds?|pigeons?|doves?|coo|coos|cooing|crows?|cawing|parrots?|owls?)\b"),
     _BIRDS),
    (_rx(r"\b(?:chickens?|hens?|roosters?|cluck\w*|crowing|cock-a-doodle\w*|poultry|fowl)\b"),
     ["Chicken, rooster", "Cluck", "Crowing, cock-a-doodle-doo", "Fowl", "Bird"]),
    (_rx(r"\b(?:ducks?|quack\w*|geese|goose)\b"), ["Duck", "Quack", "Goose", "Honk", "Fowl"]),
    (_rx(r"\b(?:cows?|cattle|moo\w*|bulls?)\b"), ["Cattle, bovinae", "Moo"]),
    (_rx(r"\b(?:horses?|neigh\w*|whinn\w*|hooves|gallop\w*)\b"), ["Horse", "Neigh, whinny", "Clip-clop"]),
    (_rx(r"\b(?:sheep|goats?|bleat\w*|lambs?)\b"), ["Sheep", "Goat", "Bleat"]),
    (_rx(r"\b(?:pigs?|oink\w*|grunt\w*)\b"), ["Pig", "Oink", "Grunt"]),
    (_rx(r"\b(?:insects?|bees?|wasps?|flies|mosquito\w*|crickets?|cicadas?)\b"),
     ["Insect", "Bee, wasp, etc.", "Fly, housefly", "Mosquito", "Cricket", "Buzz"]),
    (_rx(r"\b(?:frogs?|croak\w*|toads?)\b"), ["Frog", "Croak"]),
    (_rx(r"\b(?:lions?|tigers?)\b"), ["Roaring cats (lions, tigers)", "Roar"]),
    (_rx(r"\banimals?\b"),
     ["Animal", "Domestic animals, pets", "Wild animals", "Livestock, farm animals, working animals"]),
    # vehicles and machines
    (_rx(r"\b(?:engines?|motors?|motorized|idl\w*|revv?\w*|throttle)\b"), _ENGINE),
    (_rx(r"\b(?:chainsaw\w*|chain saw\w*|saw|saws|sawing|bites? into (?:the )?wood|cuts? through (?:the )?wood"
         r"|cutting (?:the |a )?(?:tree|log|wood|branch))\b"),
     ["Chainsaw", "Sawing", "Power tool", "Tools", "Light engine (high frequency)"]),
    (_rx(r"\b(?:drill\w*|power tools?|grinder|sander|jackhammer)\b"), ["Drill", "Power tool", "Tools", "Jackhammer",
                                                                     "Sanding"]),
    (_rx(r"\b(?:hammer\w*|pound\w* nails?)\b"), ["Hammer", "Tools"]),
    (_rx(r"\b(?:lawn ?mower\w*|mowing)\b"), ["Lawn mower", "Light engine (high frequency)"]),
    (_rx(r"\b(?:tractors?|trucks?|lorr\w*|bus|buses|diesel)\b"), ["Truck", "Heavy engine (low frequency)", "Engine",
                                                                  "Vehicle", "Bus"]),
    (_rx(r"\b(?:cars?|traffic|automobiles?|vehicles?)\b"), ["Car", "Vehicle", "Motor vehicle (road)", "Car passing by",
                                                            "Traffic noise, roadway noise"]),
    (_rx(r"\b(?:motorcycles?|motorbikes?|scooters?)\b"), ["Motorcycle", "Light engine (high frequency)"]),
    (_rx(r"\b(?:trains?|locomotives?|railway|subway)\b"), ["Train", "Rail transport", "Train horn", "Train whistle",
                                                           "Railroad car, train wagon"]),
    (_rx(r"\b(?:planes?|airplanes?|aircraft|jets?|helicopters?|propellers?)\b"),
     ["Aircraft", "Aircraft engine", "Jet engine", "Helicopter", "Fixed-wing aircraft, airplane",
      "Propeller, airscrew"]),
    (_rx(r"\b(?:boats?|ships?|speedboats?)\b"), ["Boat, Water vehicle", "Motorboat, speedboat", "Ship"]),
    (_rx(r"\b(?:car horns?|honk\w*|horns? blar\w*|beep\w*)\b"), ["Vehicle horn, car horn, honking", "Toot",
                                                                 "Beep, bleep"]),
    (_rx(r"\b(?:siren\w*|wail\w*|ambulance\w*|police cars?|fire trucks?|rises? and falls?|rising and falling)\b"),
     _SIREN),
    (_rx(r"\b(?:alarm\w*|buzzer\w*)\b"), ["Alarm", "Buzzer", "Smoke detector, smoke alarm", "Fire alarm", "Car alarm",
                                          "Alarm clock"]),
    (_rx(r"\b(?:typing|typed|typist|keystrokes?|keyboard|keys\b[^.]{0,25}\b(?:clack|clatter|click|tap)\w*"
         r"|(?:clack|clatter|click|tap)\w*[^.]{0,25}\bkeys\b|fingers? on (?:the )?keys)"), _TYPING),
    (_rx(r"\b(?:clock|ticking|tick-tock)\b"), ["Clock", "Tick", "Tick-tock"]),
    (_rx(r"\b(?:phone|telephone|ringtone|ringing phone)\b"), ["Telephone", "Telephone bell ringing", "Ringtone"]),
    (_rx(r"\b(?:slot machines?|arcade|video game)\b"), ["Video game music", "Music", "Beep, bleep", "Jingle, tinkle"]),
    (_rx(r"\b(?:coins?)\b"), ["Coin (dropping)", "Jingle, tinkle", "Chink, clink"]),
    (_rx(r"\b(?:fans?|air condition\w*|vacuum\w*|blender|hair ?dryer|whir\w*)\b"),
     ["Mechanical fan", "Air conditioning", "Vacuum cleaner", "Blender", "Hair dryer", "Whir"]),
    # impacts, weapons, explosions
    (_rx(r"\b(?:guns?|gunshots?|gunfire|shots?|shooting|shoots?|fired|firing|rifles?|pistols?|bullets?|volley\w*"
         r"|automatic fire|rounds?)\b"), _GUNS),
    (_rx(r"\b(?:machine ?guns?|automatic (?:fire|weapons?)|bursts? of fire|rapid fire)\b"), ["Machine gun",
                                                                                          "Fusillade"]),
    (_rx(r"\b(?:explo\w*|blasts?|booms?|booming|detonat\w*|cannons?|artillery|bombs?)\b"),
     ["Explosion", "Boom", "Artillery fire", "Burst, pop", "Eruption"]),
    (_rx(r"\b(?:fireworks?|firecrackers?)\b"), ["Fireworks", "Firecracker", "Burst, pop"]),
    (_rx(r"\b(?:door|doors|slam\w*|knock\w*)\b"), ["Door", "Slam", "Knock", "Sliding door"]),
    (_rx(r"\b(?:glass|shatter\w*|smash\w*|crash\w*)\b"), ["Glass", "Shatter", "Smash, crash", "Breaking"]),
    # nature
    (_rx(r"\b(?:water|splash\w*|pour\w*|drip\w*|trickl\w*|faucet|tap water|sink|stream|brook|river|flush\w*)\b"),
     _WATER),
    (_rx(r"\b(?:rain\w*|drizzl\w*)\b"), ["Rain", "Raindrop", "Rain on surface"]),
    (_rx(r"\b(?:thunder\w*|storm\w*)\b"), ["Thunder", "Thunderstorm"]),
    (_rx(r"\b(?:wind|windy|gusts?|breeze)\b"), ["Wind", "Wind noise (microphone)", "Rustling leaves"]),
    (_rx(r"\b(?:waves|surf|ocean|sea|shore)\b"), ["Ocean", "Waves, surf"]),
    (_rx(r"\b(?:fire|flames?|crackl\w*|campfire|burning)\b(?! alarm)"), ["Fire", "Crackle"]),
    (_rx(r"\b(?:sizzl\w*|frying)\b"), ["Sizzle", "Frying (food)"]),
    (_rx(r"\b(?:silence|silent|no sound)\b"), ["Silence"]),
    (_rx(r"\b(?:television|tv)\b"), ["Television", "Speech"]),
    (_rx(r"\b(?:radio)\b"), ["Radio", "Speech", "Music"]),
]
