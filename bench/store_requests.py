#!/usr/bin/python3
"""Signed requests for bench/store.sh, one a line: signature, path, body.

    store_requests.py status URL TOKEN N FILE    N status callbacks, each a
                                                 different call (completed)
    store_requests.py incoming URL TOKEN FILE    the incoming webhook of the
                                                 pro number, as the peers send it
"""
import sys
import urllib.parse

from twilio.request_validator import RequestValidator


def line(v, url, path, params):
    return "%s %s %s\n" % (v.compute_signature(url + path, params), path,
                           urllib.parse.urlencode(params))


def main():
    kind, url, token = sys.argv[1], sys.argv[2], sys.argv[3]
    v = RequestValidator(token)
    if kind == "status":
        n, out = int(sys.argv[4]), sys.argv[5]
        with open(out, "w") as f:
            for i in range(n):
                f.write(line(v, url, "/voice/status", {
                    "CallSid": "CA%032x" % i,
                    "AccountSid": "AC0123456789abcdef0123456789abcdef",
                    "From": "+15551234567",
                    "To": "+15005550006",
                    "Direction": "inbound",
                    "CallStatus": "completed",
                    "CallDuration": str(30 + i % 300),
                    "SequenceNumber": "1",
                    "ApiVersion": "2010-04-01",
                }))
    elif kind == "incoming":
        with open(sys.argv[4], "w") as f:
            f.write(line(v, url, "/voice/incoming", {
                "CallSid": "CA0123456789abcdef0123456789abcdef",
                "AccountSid": "AC0123456789abcdef0123456789abcdef",
                "From": "+15551234567",
                "To": "+15005550006",
                "CallStatus": "ringing",
                "Direction": "inbound",
                "ApiVersion": "2010-04-01",
                "FromCountry": "US",
                "ToCountry": "US",
            }))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
