"""TwiML oracle: switchboard's core/twiml against Twilio's own python helper.

Each document below is a JSON description (the input format of the
twiml-dump tool). The same document is built twice:

* with python3-twilio's VoiceResponse, calling the helper's own verb methods
  (resp.say(...), gather = resp.gather(...), dial.number(...), ...) with the
  attribute names turned into the snake_case keyword arguments it expects;
* with core/twiml, by piping the description through twiml-dump.

ASCII documents must match byte for byte. Debian's python3-twilio writes
non-ASCII characters as character references while switchboard writes raw
UTF-8, so non-ASCII documents are compared as parsed XML trees instead, and
the C output is checked to hold the raw UTF-8 bytes.

Run with Debian's interpreter, which can see python3-twilio:
    SB_BUILD=build /usr/bin/python3 -m unittest tests/oracle/test_twiml_oracle.py -v
SB_BUILD names the meson build directory, relative to the repository root
unless absolute.
"""

import inspect
import json
import os
import re
import subprocess
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from twilio.twiml import TwiML, lower_camel
from twilio.twiml.voice_response import VoiceResponse

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SB_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
TWIML_DUMP = BUILD / "tests" / "tools" / "twiml-dump"

# The helper method that adds each element to its parent. Every parent class
# in voice_response.py names its child methods the same way.
METHOD = {
    "Say": "say",
    "Play": "play",
    "Pause": "pause",
    "Gather": "gather",
    "Dial": "dial",
    "Number": "number",
    "Client": "client",
    "Identity": "identity",
    "Parameter": "parameter",
    "Sip": "sip",
    "Conference": "conference",
    "Queue": "queue",
    "Sim": "sim",
    "Record": "record",
    "Redirect": "redirect",
    "Hangup": "hangup",
    "Reject": "reject",
    "Enqueue": "enqueue",
    "Task": "task",
    "Leave": "leave",
    "Connect": "connect",
    "Stream": "stream",
    "Room": "room",
    "VirtualAgent": "virtual_agent",
    "Start": "start",
    "Stop": "stop",
    "Siprec": "siprec",
    "Refer": "refer",
    "Echo": "echo",
    "break": "break_",
    "emphasis": "emphasis",
    "lang": "lang",
    "p": "p",
    "phoneme": "phoneme",
    "prosody": "prosody",
    "s": "s",
    "say-as": "say_as",
    "sub": "sub",
    "w": "w",
}

# The parameter of each helper method that becomes the element's text.
TEXT_PARAM = {
    "Say": "message",
    "Play": "url",
    "Dial": "number",
    "Number": "phone_number",
    "Client": "identity",
    "Identity": "client_identity",
    "Sip": "sip_url",
    "Conference": "name",
    "Queue": "name",
    "Sim": "sim_sid",
    "Redirect": "url",
    "Enqueue": "name",
    "Task": "body",
    "Room": "name",
    "emphasis": "words",
    "lang": "words",
    "p": "words",
    "phoneme": "words",
    "prosody": "words",
    "s": "words",
    "say-as": "words",
    "sub": "words",
    "w": "words",
}

# Names the helper's lower_camel cannot produce from a plain snake_case name.
SPECIAL_KWARG = {"xml:lang": "xml_lang", "interpret-as": "interpret_as"}


def snake(name):
    """Turns an attribute name into the keyword argument the helper expects."""
    if name in SPECIAL_KWARG:
        return SPECIAL_KWARG[name]
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def add_nodes(parent, nodes):
    for node in nodes:
        if "name" not in node:
            # Bare text among siblings: the helper's append() takes strings.
            parent.append(node["text"])
            continue
        name = node["name"]
        kwargs = {snake(k): v for k, v in node.get("attrs", {}).items()}
        if name in TEXT_PARAM:
            kwargs[TEXT_PARAM[name]] = node.get("text")
        else:
            assert "text" not in node, name
        child = getattr(parent, METHOD[name])(**kwargs)
        add_nodes(child, node.get("children", []))


def python_twiml(doc):
    resp = VoiceResponse()
    add_nodes(resp, doc)
    return str(resp).encode("utf-8")


def c_twiml(doc):
    proc = subprocess.run(
        [str(TWIML_DUMP)],
        input=json.dumps(doc).encode("utf-8"),
        capture_output=True,
        check=False,
        timeout=30,
    )
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def tree(elem):
    """A comparable form of an element: tag, sorted attrs, text, tail, children."""
    return (
        elem.tag,
        sorted(elem.attrib.items()),
        elem.text,
        elem.tail,
        [tree(child) for child in elem],
    )


def strings(doc):
    """Every text and attribute value in a description."""
    for node in doc:
        if "text" in node and node["text"] is not None:
            yield node["text"]
        for value in node.get("attrs", {}).values():
            if value is not None:
                yield value
        yield from strings(node.get("children", []))


def say(text, **attrs):
    node = {"name": "Say", "text": text}
    if attrs:
        node["attrs"] = attrs
    return node


NUMBER_ATTRS = {
    "sendDigits": "ww1234",
    "url": "https://e/whisper",
    "method": "GET",
    "statusCallbackEvent": "initiated ringing answered completed",
    "statusCallback": "https://e/status?a=1&b=2",
    "statusCallbackMethod": "POST",
    "byoc": "BY0123",
    "machineDetection": "DetectMessageEnd",
    "amdStatusCallback": "https://e/amd",
    "amdStatusCallbackMethod": "GET",
    "machineDetectionTimeout": "30",
    "machineDetectionSpeechThreshold": "2400",
    "machineDetectionSpeechEndThreshold": "1200",
    "machineDetectionSilenceTimeout": "5000",
}

SIP_ATTRS = dict(NUMBER_ATTRS, username="admin", password="p&ss<word>\"")
del SIP_ATTRS["sendDigits"], SIP_ATTRS["byoc"]

DOCS = {
    "empty_response": [],
    "say_simple": [say("Hello, world.")],
    "say_all_attrs": [say("Welcome", voice="Polly.Joanna", loop="2", language="en-US")],
    "say_empty_text": [say("")],
    "say_no_text": [{"name": "Say", "attrs": {"voice": "man"}}],
    "play_url_loop": [{"name": "Play", "attrs": {"loop": "3"}, "text": "http://hellomonkey.mp3"}],
    "play_digits": [{"name": "Play", "attrs": {"digits": "w123#*"}}],
    "pause_length": [say("One"), {"name": "Pause", "attrs": {"length": "5"}}, say("Two")],
    "pause_empty": [{"name": "Pause"}],
    "gather_nested_say": [
        {"name": "Gather", "children": [say("Hello", voice="man")]},
    ],
    "gather_all_attrs_nested": [
        {
            "name": "Gather",
            "attrs": {
                "input": "dtmf speech",
                "action": "/gather?step=1&lang=en",
                "method": "POST",
                "timeout": "5",
                "speechTimeout": "auto",
                "maxSpeechTime": "60",
                "profanityFilter": "false",
                "finishOnKey": "#",
                "numDigits": "1",
                "partialResultCallback": "https://e/partial",
                "partialResultCallbackMethod": "GET",
                "language": "en-GB",
                "hints": "sales, support, billing",
                "bargeIn": "true",
                "debug": "false",
                "actionOnEmptyResult": "true",
                "speechModel": "phone_call",
                "enhanced": "true",
            },
            "children": [
                say("For sales, press 1.", voice="alice"),
                {"name": "Pause", "attrs": {"length": "1"}},
                {"name": "Play", "text": "https://e/menu.mp3"},
                {"name": "Play", "attrs": {"digits": "w1"}},
                say("Or say what you need."),
            ],
        },
        say("We didn't receive any input. Goodbye!"),
    ],
    "gather_empty": [{"name": "Gather", "attrs": {"numDigits": "4"}}],
    "dial_text": [{"name": "Dial", "text": "1231231234"}],
    "dial_all_attrs": [
        {
            "name": "Dial",
            "attrs": {
                "action": "/dial-done",
                "method": "GET",
                "timeout": "20",
                "hangupOnStar": "true",
                "timeLimit": "14400",
                "callerId": "+15550001111",
                "record": "record-from-ringing-dual",
                "trim": "trim-silence",
                "recordingStatusCallback": "https://e/rec",
                "recordingConfigurationId": "RC123",
                "recordingStatusCallbackMethod": "POST",
                "recordingStatusCallbackEvent": "in-progress completed absent",
                "answerOnBridge": "true",
                "ringTone": "us",
                "recordingTrack": "both",
                "sequential": "true",
                "referUrl": "/refer",
                "referMethod": "POST",
                "events": "call-progress-events",
                "passports": "eyJhbGciOi.x.y",
            },
            "text": "+15551234567",
        }
    ],
    "dial_number_all_attrs": [
        {
            "name": "Dial",
            "children": [{"name": "Number", "attrs": NUMBER_ATTRS, "text": "+15551234567"}],
        }
    ],
    "dial_number_status_callback_event": [
        {
            "name": "Dial",
            "children": [
                {
                    "name": "Number",
                    "attrs": {
                        "statusCallback": "http://example.com",
                        "statusCallbackEvent": "initiated completed",
                    },
                    "text": "1231231234",
                }
            ],
        }
    ],
    "dial_simultaneous_numbers": [
        {
            "name": "Dial",
            "attrs": {"timeout": "10"},
            "children": [
                {"name": "Number", "text": "+15550000001"},
                {"name": "Number", "attrs": {"sendDigits": "1"}, "text": "+15550000002"},
                {"name": "Number", "text": "+15550000003"},
            ],
        }
    ],
    "dial_text_then_noun": [
        {"name": "Dial", "text": "+15550000001", "children": [{"name": "Client", "text": "bob"}]}
    ],
    "dial_client_text": [{"name": "Dial", "children": [{"name": "Client", "text": "alice"}]}],
    "dial_client_identity_parameters": [
        {
            "name": "Dial",
            "attrs": {"callerId": "client:support"},
            "children": [
                {
                    "name": "Client",
                    "attrs": {
                        "url": "https://e/screen",
                        "method": "GET",
                        "statusCallbackEvent": "ringing answered",
                        "statusCallback": "https://e/cb",
                        "statusCallbackMethod": "POST",
                    },
                    "children": [
                        {"name": "Identity", "text": "agent_42"},
                        {"name": "Parameter", "attrs": {"name": "Ticket", "value": "T-9"}},
                        {"name": "Parameter", "attrs": {"name": "Tier", "value": "gold"}},
                    ],
                }
            ],
        }
    ],
    "dial_sip_all_attrs": [
        {
            "name": "Dial",
            "children": [
                {"name": "Sip", "attrs": SIP_ATTRS, "text": "sip:bob@example.com;transport=tls"}
            ],
        }
    ],
    "dial_conference_all_attrs": [
        {
            "name": "Dial",
            "children": [
                {
                    "name": "Conference",
                    "attrs": {
                        "muted": "false",
                        "beep": "onEnter",
                        "startConferenceOnEnter": "true",
                        "endConferenceOnExit": "false",
                        "waitUrl": "",
                        "waitMethod": "GET",
                        "maxParticipants": "10",
                        "record": "record-from-start",
                        "recordingConfigurationId": "RC1",
                        "region": "ie1",
                        "coach": "CA0123",
                        "trim": "do-not-trim",
                        "statusCallbackEvent": "start end join leave mute hold speaker",
                        "statusCallback": "https://e/conf",
                        "statusCallbackMethod": "POST",
                        "recordingStatusCallback": "https://e/conf-rec",
                        "recordingStatusCallbackMethod": "GET",
                        "recordingStatusCallbackEvent": "in-progress completed",
                        "eventCallbackUrl": "https://e/events",
                        "jitterBufferSize": "small",
                        "participantLabel": "customer",
                    },
                    "text": "My Room",
                }
            ],
        }
    ],
    "dial_conference_helper_example": [
        {
            "name": "Dial",
            "children": [
                {
                    "name": "Conference",
                    "attrs": {
                        "waitUrl": "",
                        "startConferenceOnEnter": "true",
                        "muted": "true",
                        "endConferenceOnExit": "true",
                        "beep": "false",
                    },
                    "text": "TestConferenceMutedAttribute",
                }
            ],
        }
    ],
    "dial_queue_attrs": [
        {
            "name": "Dial",
            "children": [
                {
                    "name": "Queue",
                    "attrs": {
                        "url": "",
                        "method": "GET",
                        "reservationSid": "WR123",
                        "postWorkActivitySid": "WA456",
                    },
                    "text": "The Cute Queue",
                }
            ],
        }
    ],
    "dial_sim": [
        {"name": "Dial", "children": [{"name": "Sim", "text": "DE8caa2afb9d5279926619c458dc7098"}]}
    ],
    "record_all_attrs": [
        {
            "name": "Record",
            "attrs": {
                "action": "/recorded",
                "method": "GET",
                "timeout": "4",
                "finishOnKey": "#*",
                "maxLength": "30",
                "playBeep": "false",
                "trim": "trim-silence",
                "recordingStatusCallback": "https://e/rec?x=1&y=2",
                "recordingStatusCallbackMethod": "POST",
                "recordingStatusCallbackEvent": "in-progress completed absent",
                "transcribe": "true",
                "transcribeCallback": "https://e/transcript",
                "recordingConfigurationId": "RC9",
            },
        }
    ],
    "record_empty": [{"name": "Record"}],
    "record_voicemail_flow": [
        say("Please leave a message after the beep."),
        {"name": "Record", "attrs": {"maxLength": "120", "finishOnKey": ""}},
        say("I did not receive a recording."),
        {"name": "Hangup"},
    ],
    "redirect_ampersand": [
        {"name": "Redirect", "attrs": {"method": "POST"}, "text": "example.com?id=34&action=hey"}
    ],
    "hangup": [{"name": "Hangup"}],
    "reject_plain": [{"name": "Reject"}],
    "reject_busy": [{"name": "Reject", "attrs": {"reason": "busy"}}],
    "enqueue_attrs": [
        {
            "name": "Enqueue",
            "attrs": {
                "action": "/queue-done",
                "maxQueueSize": "50",
                "method": "GET",
                "waitUrl": "/hold-music",
                "waitUrlMethod": "POST",
            },
            "text": "support",
        }
    ],
    "enqueue_task": [
        {
            "name": "Enqueue",
            "attrs": {"workflowSid": "WW123123123"},
            "children": [
                {
                    "name": "Task",
                    "attrs": {"priority": "5", "timeout": "200"},
                    "text": '{"selected_language": "es", "account": "A&B"}',
                }
            ],
        }
    ],
    "leave": [say("Leaving the queue"), {"name": "Leave"}],
    "echo": [{"name": "Echo"}],
    "connect_stream_parameters": [
        {
            "name": "Connect",
            "attrs": {"action": "https://x/after", "method": "GET"},
            "children": [
                {
                    "name": "Stream",
                    "attrs": {
                        "url": "wss://example.com/a?b=1&c=2",
                        "track": "inbound_track",
                        "name": "bot",
                        "statusCallback": "https://e/stream",
                        "statusCallbackMethod": "POST",
                    },
                    "children": [
                        {
                            "name": "Parameter",
                            "attrs": {"name": "FirstName", "value": "Jane & <Co>"},
                        },
                        {"name": "Parameter", "attrs": {"name": "CallerTier", "value": ""}},
                    ],
                }
            ],
        }
    ],
    "connect_stream_connector": [
        {
            "name": "Connect",
            "children": [{"name": "Stream", "attrs": {"connectorName": "my-connector"}}],
        }
    ],
    "connect_room": [
        {
            "name": "Connect",
            "children": [
                {"name": "Room", "attrs": {"participantIdentity": "alice"}, "text": "DailyStandup"}
            ],
        }
    ],
    "connect_virtual_agent": [
        {
            "name": "Connect",
            "attrs": {"action": "/agent-done"},
            "children": [
                {
                    "name": "VirtualAgent",
                    "attrs": {
                        "connectorName": "uuid1",
                        "language": "en-us",
                        "sentimentAnalysis": "true",
                        "statusCallback": "https://e/va",
                    },
                }
            ],
        }
    ],
    "start_stream": [
        {
            "name": "Start",
            "attrs": {"action": "/started", "method": "POST"},
            "children": [
                {
                    "name": "Stream",
                    "attrs": {
                        "name": "Example Audio Stream",
                        "url": "wss://example.com/audiostream",
                    },
                }
            ],
        },
        say("The stream has started."),
    ],
    "start_siprec_parameters": [
        {
            "name": "Start",
            "children": [
                {
                    "name": "Siprec",
                    "attrs": {"name": "rec1", "connectorName": "SR1", "track": "both_tracks"},
                    "children": [{"name": "Parameter", "attrs": {"name": "k", "value": "v"}}],
                }
            ],
        }
    ],
    "stop_stream": [
        {"name": "Stop", "children": [{"name": "Stream", "attrs": {"name": "my_first_stream"}}]}
    ],
    "stop_siprec": [{"name": "Stop", "children": [{"name": "Siprec", "attrs": {"name": "rec1"}}]}],
    "refer_sip": [
        {
            "name": "Refer",
            "attrs": {"action": "/refer-done", "method": "GET"},
            "children": [{"name": "Sip", "text": "sip:alice@example.com?X-Ref=1&Y=2"}],
        }
    ],
    "escaping_text": [
        say("Tom & Jerry <said> \"hi\" and 'bye'\nnew line\ttab > done"),
        {"name": "Redirect", "text": "/next?a=<1>&b='2'&c=\"3\""},
    ],
    "escaping_attrs": [
        say(
            "x",
            voice="a&b<c>d\"e'f",
            language="line1\nline2\ttab\rcr",
        ),
        {"name": "Dial", "attrs": {"action": "/d?x=1&y=<2>", "callerId": "'quoted' \"double\""}},
    ],
    "escaping_only_specials": [say("&<>&<>"), {"name": "Play", "attrs": {"digits": "\"\n\t\r&"}}],
    "empty_string_attrs": [
        {"name": "Gather", "attrs": {"finishOnKey": "", "action": "", "hints": ""}},
        {"name": "Say", "attrs": {"voice": "", "language": "", "loop": ""}, "text": "empty attrs"},
    ],
    "null_attrs_skipped": [
        {"name": "Say", "attrs": {"voice": None, "loop": "0", "language": None}, "text": "loop"},
        {"name": "Pause", "attrs": {"length": None}},
    ],
    "ssml_all_elements": [
        {
            "name": "Say",
            "attrs": {"voice": "Polly.Joanna"},
            "children": [
                {
                    "name": "p",
                    "children": [
                        {
                            "name": "s",
                            "children": [
                                {"name": "emphasis", "attrs": {"level": "strong"}, "text": "Hi"},
                                {
                                    "name": "break",
                                    "attrs": {"strength": "medium", "time": "500ms"},
                                },
                                {
                                    "name": "say-as",
                                    "attrs": {"interpret-as": "telephone", "role": "x"},
                                    "text": "555-1234",
                                },
                                {
                                    "name": "sub",
                                    "attrs": {"alias": "World Wide Web"},
                                    "text": "WWW",
                                },
                                {
                                    "name": "phoneme",
                                    "attrs": {"alphabet": "ipa", "ph": "pɪˈkɑːn"},
                                    "text": "pecan",
                                },
                                {"name": "w", "attrs": {"role": "amazon:VBD"}, "text": "read"},
                            ],
                        }
                    ],
                },
                {
                    "name": "prosody",
                    "attrs": {"rate": "slow", "pitch": "+5%", "volume": "loud"},
                    "children": [
                        {"name": "lang", "attrs": {"xml:lang": "fr-FR"}, "text": "Bonjour"}
                    ],
                },
            ],
        }
    ],
    "ssml_mixed_text": [
        {
            "name": "Say",
            "children": [
                {"text": "Your code is "},
                {"name": "say-as", "attrs": {"interpret-as": "digits"}, "text": "1234"},
                {"text": ". Again: "},
                {"name": "prosody", "attrs": {"rate": "x-slow"}, "text": "1 2 3 4"},
                {"text": " & goodbye."},
            ],
        }
    ],
    "deep_nesting": [
        {
            "name": "Say",
            "children": [
                {
                    "name": "prosody",
                    "attrs": {"rate": "slow"},
                    "children": [
                        {
                            "name": "prosody",
                            "attrs": {"pitch": "low"},
                            "children": [
                                {
                                    "name": "emphasis",
                                    "children": [
                                        {
                                            "name": "prosody",
                                            "attrs": {"volume": "soft"},
                                            "text": "deep",
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    ],
    "ivr_menu": [
        {
            "name": "Gather",
            "attrs": {"action": "/ivr/choice", "numDigits": "1", "timeout": "7"},
            "children": [
                say("Press 1 for sales.", voice="woman", language="en-GB"),
                say("Press 2 for support.", voice="woman", language="en-GB"),
            ],
        },
        {"name": "Redirect", "attrs": {"method": "GET"}, "text": "/ivr/menu?retry=1"},
    ],
    "call_center": [
        say("Connecting you to an agent."),
        {
            "name": "Dial",
            "attrs": {
                "action": "/after-dial",
                "answerOnBridge": "true",
                "record": "record-from-answer-dual",
                "timeout": "25",
            },
            "children": [
                {"name": "Client", "text": "agent1"},
                {"name": "Number", "attrs": {"url": "/whisper"}, "text": "+15550009999"},
                {"name": "Sip", "attrs": {"username": "u"}, "text": "sip:desk@pbx.example.com"},
            ],
        },
        {"name": "Enqueue", "attrs": {"waitUrl": "/wait"}, "text": "overflow"},
        {"name": "Hangup"},
    ],
    "golden_connect_stream": [
        {
            "name": "Connect",
            "attrs": {"action": "https://x/after"},
            "children": [
                {
                    "name": "Stream",
                    "attrs": {"url": "wss://example.com/a?b=1&c=2", "track": "inbound_track"},
                    "children": [
                        {
                            "name": "Parameter",
                            "attrs": {"name": "FirstName", "value": "Jane & <Co>"},
                        }
                    ],
                }
            ],
        }
    ],
    "golden_dial_number_space_joined": [
        {
            "name": "Dial",
            "attrs": {
                "record": "record-from-answer-dual",
                "answerOnBridge": "true",
                "timeout": "20",
            },
            "children": [
                {
                    "name": "Number",
                    "attrs": {"statusCallbackEvent": "initiated completed"},
                    "text": "+15551234567",
                }
            ],
        }
    ],
    "every_verb_once": [
        {"name": "Start", "children": [{"name": "Stream", "attrs": {"url": "wss://e/s"}}]},
        say("hi"),
        {"name": "Play", "text": "https://e/a.wav"},
        {"name": "Pause"},
        {"name": "Gather", "children": [{"name": "Pause"}]},
        {"name": "Dial", "text": "+15550000000"},
        {"name": "Record"},
        {"name": "Enqueue", "text": "q"},
        {"name": "Leave"},
        {"name": "Connect", "children": [{"name": "Stream", "attrs": {"url": "wss://e/c"}}]},
        {"name": "Stop", "children": [{"name": "Stream"}]},
        {"name": "Refer", "children": [{"name": "Sip", "text": "sip:a@b"}]},
        {"name": "Echo"},
        {"name": "Reject"},
        {"name": "Hangup"},
        {"name": "Redirect", "text": "/x"},
    ],
    # Non-ASCII: compared as parsed trees (see the module docstring).
    "nonascii_say_languages": [
        say("nécessaire et d'autres", language="fr-FR"),
        say("日本語でどうぞ", language="ja-JP", voice="Polly.Mizuki"),
        say("Привет 👋 & <добро>"),
    ],
    "nonascii_attribute_values": [
        {
            "name": "Connect",
            "children": [
                {
                    "name": "Stream",
                    "attrs": {"url": "wss://e/s", "name": "flux-é"},
                    "children": [
                        {
                            "name": "Parameter",
                            "attrs": {"name": "Nom", "value": "Zoë \"Ñ\" & ü\n"},
                        }
                    ],
                }
            ],
        }
    ],
    "golden_start_say_gather_stop_reject": [
        {
            "name": "Start",
            "children": [
                {
                    "name": "Stream",
                    "attrs": {"name": "s1", "url": "wss://e/x", "statusCallback": "https://e/cb"},
                }
            ],
        },
        say('Ünïcode "q" & <tag>', voice="Polly.Joanna", language="en-US"),
        {
            "name": "Gather",
            "attrs": {
                "input": "dtmf speech",
                "numDigits": "4",
                "actionOnEmptyResult": "true",
                "speechTimeout": "auto",
            },
            "children": [say("Press")],
        },
        {"name": "Stop", "children": [{"name": "Stream", "attrs": {"name": "s1"}}]},
        {"name": "Reject", "attrs": {"reason": "busy"}},
    ],
    "nonascii_conference_room": [
        {
            "name": "Dial",
            "children": [
                {
                    "name": "Conference",
                    "attrs": {"participantLabel": "Måns"},
                    "text": "Salle de réunion № 5",
                }
            ],
        }
    ],
}

# Byte-exact expectations recorded from twilio-python itself (protocol notes,
# section 4.1a), which the C output must equal whatever the installed helper does.
GOLDEN = {
    "golden_connect_stream": (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="https://x/after">'
        '<Stream track="inbound_track" url="wss://example.com/a?b=1&amp;c=2">'
        '<Parameter name="FirstName" value="Jane &amp; &lt;Co&gt;" /></Stream></Connect>'
        "</Response>"
    ),
    "golden_start_say_gather_stop_reject": (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Start><Stream name="s1" '
        'statusCallback="https://e/cb" url="wss://e/x" /></Start><Say language="en-US" '
        'voice="Polly.Joanna">Ünïcode "q" &amp; &lt;tag&gt;</Say><Gather '
        'actionOnEmptyResult="true" input="dtmf speech" numDigits="4" speechTimeout="auto">'
        '<Say>Press</Say></Gather><Stop><Stream name="s1" /></Stop><Reject reason="busy" />'
        "</Response>"
    ),
    "empty_response": '<?xml version="1.0" encoding="UTF-8"?><Response />',
    "golden_dial_number_space_joined": (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial answerOnBridge="true" '
        'record="record-from-answer-dual" timeout="20"><Number statusCallbackEvent="initiated '
        'completed">+15551234567</Number></Dial></Response>'
    ),
}

# A path from <Response> to one instance of each element, for probing which
# children it takes. Two Sip elements exist; the one under Refer is probed
# under its own key.
CONTEXTS = {
    "Response": [],
    "Refer/Sip": ["Refer", "Sip"],
}
for _name in METHOD:
    if _name in ("Number", "Client", "Sip", "Conference", "Queue", "Sim"):
        CONTEXTS[_name] = ["Dial", _name]
    elif _name in ("Identity",):
        CONTEXTS[_name] = ["Dial", "Client", _name]
    elif _name in ("Stream", "Room", "VirtualAgent"):
        CONTEXTS[_name] = ["Connect", _name]
    elif _name == "Siprec":
        CONTEXTS[_name] = ["Start", _name]
    elif _name == "Task":
        CONTEXTS[_name] = ["Enqueue", _name]
    elif _name == "Parameter":
        CONTEXTS[_name] = ["Connect", "Stream", _name]
    elif _name[0].islower():
        CONTEXTS[_name] = ["Say", _name]
    else:
        CONTEXTS[_name] = [_name]

# Places where the helper has a method that switchboard deliberately leaves
# out: <Response><Queue> is not a Twilio voice verb (Queue is a Dial noun).
NOT_SUPPORTED = {("Response", "Queue")}


def nest(path, leaf):
    """A description holding `leaf` inside the elements named by `path`."""
    node = leaf
    for name in reversed(path):
        node = {"name": name, "children": [node]}
    return [node]


def helper_object(path):
    """The helper's object for the last element of `path`, built from <Response>."""
    obj = VoiceResponse()
    for name in path:
        kwargs = {TEXT_PARAM[name]: None} if name in TEXT_PARAM else {}
        obj = getattr(obj, METHOD[name])(**kwargs)
    return obj


def is_ascii(doc):
    return all(s.isascii() for s in strings(doc))


class TwimlOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TWIML_DUMP.exists():
            raise RuntimeError(
                f"error: twiml-dump not found at {TWIML_DUMP}: build it first "
                "(ninja -C <build> tests/tools/twiml-dump) or set SB_BUILD"
            )

    def check(self, key):
        doc = DOCS[key]
        rc, c_out, err = c_twiml(doc)
        self.assertEqual(rc, 0, f"twiml-dump failed: {err}")
        py_out = python_twiml(doc)
        if key in GOLDEN:
            self.assertEqual(c_out.decode("utf-8"), GOLDEN[key])
        if is_ascii(doc):
            self.assertEqual(c_out, py_out)
            return
        # Both must be the same document once parsed.
        self.assertEqual(tree(ET.fromstring(c_out)), tree(ET.fromstring(py_out)))
        self.assertTrue(c_out.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Response'))
        # And switchboard writes the characters themselves, not references.
        self.assertIsNone(re.search(rb"&#(?!10;|09;|13;)", c_out))
        for s in strings(doc):
            for word in re.findall(r"[^\x00-\x7f]+", s):
                self.assertIn(word.encode("utf-8"), c_out)

    def test_document_count(self):
        self.assertGreaterEqual(len(DOCS), 40)
        self.assertGreaterEqual(sum(1 for d in DOCS.values() if not is_ascii(d)), 3)

    def test_every_element_covered(self):
        seen = set()

        def walk(nodes):
            for node in nodes:
                if "name" in node:
                    seen.add(node["name"])
                    walk(node.get("children", []))

        for doc in DOCS.values():
            walk(doc)
        self.assertEqual(seen, set(METHOD))

    def test_children_match_helper(self):
        """core/twiml accepts a child exactly where the helper has a method for it."""
        for parent, path in CONTEXTS.items():
            py_parent = helper_object(path)
            for child in METHOD:
                if (parent, child) in NOT_SUPPORTED:
                    continue
                want = hasattr(py_parent, METHOD[child])
                doc = nest(path, {"name": child})
                rc, _, err = c_twiml(doc)
                with self.subTest(parent=parent, child=child):
                    self.assertEqual(rc == 0, want, err)

    def test_helper_keywords_accepted(self):
        """Every keyword the helper's method names is an attribute core/twiml takes."""
        for name, path in CONTEXTS.items():
            if not path:
                continue
            py_parent = helper_object(path[:-1])
            sig = inspect.signature(getattr(py_parent, METHOD[path[-1]]))
            for param in sig.parameters:
                if param in ("kwargs", TEXT_PARAM.get(path[-1])):
                    continue
                # The helper's own rule for turning a keyword into a name.
                attr = lower_camel(TwiML.MAP.get(param, param))
                doc = nest(path[:-1], {"name": path[-1], "attrs": {attr: "x"}})
                rc, _, err = c_twiml(doc)
                with self.subTest(element=name, attr=attr):
                    self.assertEqual(rc, 0, err)

    def test_refused_documents(self):
        bad = {
            "unknown verb": [{"name": "Sya"}],
            "unknown attribute": [{"name": "Say", "attrs": {"voise": "alice"}}],
            "child not allowed": [{"name": "Gather", "children": [{"name": "Dial"}]}],
            "noun at top level": [{"name": "Number", "text": "+1555"}],
            "text in a verb without content": [{"name": "Hangup", "text": "now"}],
            "control character": [say("bell\x07")],
            "too big": [say("a" * 70000)],
        }
        for what, doc in bad.items():
            with self.subTest(what):
                rc, out, err = c_twiml(doc)
                self.assertEqual(rc, 1, what)
                self.assertEqual(out, b"")
                self.assertIn("error:", err)

    def test_malformed_description(self):
        for what, text in {
            "not json": b"[{",
            "not a list": b'{"name": "Say"}',
            "name not a string": b'[{"name": 1}]',
        }.items():
            with self.subTest(what):
                proc = subprocess.run(
                    [str(TWIML_DUMP)], input=text, capture_output=True, check=False, timeout=30
                )
                self.assertEqual(proc.returncode, 2)
                self.assertEqual(proc.stdout, b"")


def _make_test(key):
    def test(self):
        self.check(key)

    return test


for _key in DOCS:
    setattr(TwimlOracle, f"test_doc_{_key}", _make_test(_key))


if __name__ == "__main__":
    unittest.main()
