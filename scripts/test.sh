#!/usr/bin/env bash
# `make test`: installs what the tests need, builds, and runs every suite:
#   0. checks of the code's rules: includes follow the layers, every header
#      compiles on its own, every .c file of src/ includes core/banned.h last,
#      clang-format changes nothing (scripts/check-*),
#      and each check fails on a tree that breaks its rule (tests/checks)
#   1. unit tests (Criterion), plain build
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. oracle tests (python3-twilio decides what is correct)
#   4. integration tests (the real binary over real sockets on 127.0.0.1), as three processes at once,
#      and the store-heavy ones on PostgreSQL as two more beside them (the fuzz targets build meanwhile)
#   5. under ThreadSanitizer: the unit tests that start threads (the writer, the
#      worker pool) and the integration tests that drive every thread of the
#      server (loops, writer, workers)
#   6. fuzz targets for a bounded time (FUZZ_SECONDS each, default 3), two at a time
# Steps 1, 2 and 4 run the store's tests on PostgreSQL too: a throwaway server
# (scripts/pg-test-server.sh) lives for the run, on a Unix socket only.
# and ends with the names of what failed, if anything did, and one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/deps.sh --test || exit 1

passed=0 failed=0
units="unit-core unit-store unit-agent unit-voice unit-server unit-sim unit-media unit-speech unit-flow unit-net unit-twilio unit-oom"
fuzzers="fuzz/fuzz_api_params fuzz/fuzz_call_request fuzz/fuzz_chat_stream fuzz/fuzz_csv fuzz/fuzz_db_target fuzz/fuzz_deepgram fuzz/fuzz_doc fuzz/fuzz_flow fuzz/fuzz_form fuzz/fuzz_grammar fuzz/fuzz_knowledge fuzz/fuzz_llm_script fuzz/fuzz_media fuzz/fuzz_providers fuzz/fuzz_relay fuzz/fuzz_script fuzz/fuzz_sig fuzz/fuzz_sse fuzz/fuzz_status_events fuzz/fuzz_tz fuzz/fuzz_tts_wire fuzz/fuzz_twilio_rest fuzz/fuzz_twiml fuzz/fuzz_words"
log=$(mktemp -d)
# Short: the server's socket path must fit in 107 bytes.
pgdir=$(mktemp -d /tmp/sbpg.XXXXXX)
pg_url=""
trap 'scripts/pg-test-server.sh stop "$pgdir" >/dev/null 2>&1; rm -rf "$log" "$pgdir"' EXIT

count() { passed=$((passed + $1)); failed=$((failed + $2)); }
# What failed, a line each, repeated at the very end: a long run's log may be read from its tail only.
failures=()
failure() { failures+=("$*"); } # failure LABEL [WHAT]
# Each step says how long the one before it took, to keep the suite well under 20 minutes.
step_started=$SECONDS
step() {
  [ "$SECONDS" -gt "$step_started" ] && printf '(%d s)\n' "$((SECONDS - step_started))"
  step_started=$SECONDS
  printf '\n== %s\n' "$*"
}

build() { # build DIR "TARGETS" [meson options...]  (empty TARGETS: everything)
  local dir=$1 targets=$2; shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$log/setup-$(basename "$dir")" 2>&1 ||
      { cat "$log/setup-$(basename "$dir")"; return 1; }
  fi
  # shellcheck disable=SC2086  # targets is a list
  ninja -C "$dir" $targets >"$log/ninja-$(basename "$dir")" 2>&1 ||
    { cat "$log/ninja-$(basename "$dir")"; return 1; }
}

criterion_run() { # criterion_run LABEL EXE: runs a suite; criterion_report LABEL then counts
  "$2" --jobs=2 >"$log/$1.out" 2>&1
  echo $? >"$log/$1.crc"
}
criterion_report() {
  local out="$log/$1.out" rc
  rc=$(cat "$log/$1.crc" 2>/dev/null || echo 1)
  local line; line=$(grep -a "Synthesis:" "$out" | tail -1)
  local ok bad
  ok=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
  bad=$(sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p' <<<"$line" | awk '{print $1+$2}')
  if [ -z "$ok" ]; then ok=0; bad=1; fi
  [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  if [ "$bad" -ne 0 ]; then
    grep -a -E "FAIL|Assertion|Crash|error|Synthesis" "$out" | head -40
    failure "$1:" $(grep -a -oE '\[(FAIL|CRASH)\] [^ :]+::[^ :]+' "$out" | sed 's/^[^ ]* //' | sort -u | head -5)
  fi
  printf '%s: %s passed, %s failed\n' "$1" "$ok" "$bad"
  count "$ok" "$bad"
}
criterion() { # criterion LABEL EXE
  criterion_run "$1" "$2"
  criterion_report "$1"
}

pyunit() { # pyunit LABEL DIR|MODULE... (pyunit_build: the build whose binary runs, default build/)
  pyunit_start "$@"
  wait "$!"
  pyunit_report "$1"
}

pyunit_start() { # pyunit_start LABEL DIR|MODULE...: runs them in the background; pyunit_report LABEL then counts
  local label=$1 file=${1//\//-}  # the label names its files, without a slash
  local out="$log/$file.out"
  shift
  (
    started=$SECONDS
    if [ $# -eq 1 ] && [ -d "$1" ]; then
      SB_BUILD="${pyunit_build:-$root/build}" /usr/bin/python3 -m unittest discover -s "$1" -t "$root" \
        -p 'test_*.py' >"$out" 2>&1
    else
      SB_BUILD="${pyunit_build:-$root/build}" /usr/bin/python3 -m unittest "$@" >"$out" 2>&1
    fi
    echo "$? $((SECONDS - started))" >"$log/$file.rc"
  ) &
}

pyunit_report() { # pyunit_report LABEL [NOTE]: the summary line of a finished pyunit_start, counted
  local label=$1 note=${2:-} file=${1//\//-} rc secs
  local out="$log/$file.out"
  read -r rc secs <"$log/$file.rc" 2>/dev/null || rc=1
  local ran; ran=$(sed -n 's/^Ran \([0-9]*\) tests\?.*/\1/p' "$out" | tail -1)
  local bad; bad=$(grep -E '^FAILED \(' "$out" | grep -oE '(failures|errors)=[0-9]+' | awk -F= '{s += $2} END {print s + 0}')
  ran=${ran:-0}; bad=${bad:-0}
  [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  if [ "$bad" -ne 0 ]; then
    grep -E -A30 '^(FAIL|ERROR):' "$out" | head -80
    failure "$label:" $(sed -n 's/^\(FAIL\|ERROR\): [^ ]* (\([^)]*\)).*/\2/p' "$out" | sed 's/^tests\.integration\.//' | sort -u | head -5)
  fi
  printf '%s: %s passed, %s failed%s\n' "$label" "$((ran - bad < 0 ? 0 : ran - bad))" "$bad" \
    "${note:+ ($note, ${secs:-?} s)}"
  count "$((ran - bad < 0 ? 0 : ran - bad))" "$bad"
}

step "checks"
check() { # check LABEL COMMAND...: one test, its output shown when it fails
  local label=$1; shift
  if "$@" >"$log/check-$label.out" 2>&1; then
    printf '%s: 1 passed, 0 failed (%s)\n' "$label" "$(tail -1 "$log/check-$label.out")"
    count 1 0
  else
    head -80 "$log/check-$label.out"; printf '%s: 0 passed, 1 failed\n' "$label"; count 0 1; failure "$label"
  fi
}
check layers scripts/check-layers.py
check headers scripts/check-headers.py
check banned scripts/check-banned.py
check format scripts/check-format.sh
pyunit checks-can-fail tests/checks

step "build"
if build build ""; then count 1 0; else count 0 1; echo "$passed passed, $failed failed"; exit 1; fi

step "PostgreSQL for the tests"
if pg_url=$(scripts/pg-test-server.sh start "$pgdir" 2>"$log/pg-start"); then
  echo "postgresql: 1 passed, 0 failed (a server on $pgdir)"; count 1 0
else
  cat "$log/pg-start"; echo "postgresql: 0 passed, 1 failed"; count 0 1; failure postgresql; pg_url=""
fi

step "unit tests"
# unit-oom is mostly one long test on one CPU (the store opened through every failing
# allocation): it runs beside the other suites, which keep the other CPU busy.
criterion_run unit-oom build/unit-oom &
for t in ${units/ unit-oom/}; do criterion "$t" "build/$t"; done
wait
criterion_report unit-oom
# The store's own tests again, each on a fresh schema of the PostgreSQL server.
if [ -n "$pg_url" ]; then SB_TEST_POSTGRES=$pg_url criterion "unit-store (postgres)" build/unit-store; fi

step "unit tests under ASan + UBSan"
if build build-asan "$units" -Db_sanitize=address,undefined -Db_lundef=false; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"
  criterion_run asan:unit-oom build-asan/unit-oom &
  for t in ${units/ unit-oom/}; do criterion "asan:$t" "build-asan/$t"; done
  wait
  criterion_report asan:unit-oom
  if [ -n "$pg_url" ]; then
    SB_TEST_POSTGRES=$pg_url criterion "asan:unit-store (postgres)" build-asan/unit-store
  fi
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
else
  count 0 1; failure "build-asan"
fi

step "integration tests under ASan + UBSan: speech on Media Streams under bad input"
# Providers that refuse, fail, stall, cut or send garbage, noise and clipped audio: nothing
# may leak or crash (tests/lsan.supp names the third-party leaks it allows). The long-talk
# noise test runs in the plain integration step only, for the suite's time.
# Two processes at once (each a call or two in real time):
# the noise tests and three cloud cases in one, the other cloud cases in the other.
if build build-asan "switchboard" -Db_sanitize=address,undefined -Db_lundef=false; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"
  # Every test class of test_speech_cloud but the base runs: the three named here in the first
  # process, all the others (new ones too) in the second.
  cloud=tests.integration.test_speech_cloud cloud_first="SpanishThroughTheStandInsTest NothingHeardTest RefusedKeyTest"
  cloud_rest=$(sed -n 's/^class \([A-Za-z0-9_]*\)(.*/\1/p' tests/integration/test_speech_cloud.py |
                 grep -vxF -e CloudSpeechTest $(printf -- '-e %s ' $cloud_first))
  # shellcheck disable=SC2046,SC2086  # one test a word
  pyunit_build="$root/build-asan" pyunit_start "asan:integration (1/2)" \
    tests.integration.test_speech_noise.SpeechNoiseTest.test_clipped_audio_starts_no_turn_that_ends_the_call \
    tests.integration.test_speech_noise.SpeechNoiseTest.test_noise_over_the_agent_does_not_stop_it \
    $(printf "$cloud.%s " $cloud_first)
  # shellcheck disable=SC2046,SC2086
  pyunit_build="$root/build-asan" pyunit_start "asan:integration (2/2)" $(printf "$cloud.%s " $cloud_rest)
  wait
  pyunit_report "asan:integration (1/2)" "2 noise tests, $(wc -w <<<"$cloud_first") cloud cases"
  pyunit_report "asan:integration (2/2)" "$(wc -w <<<"$cloud_rest") cloud cases"
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
else
  count 0 1; failure "build-asan (switchboard)"
fi

step "oracle tests (python3-twilio)"
pyunit oracle tests/oracle

step "integration tests, on SQLite and on PostgreSQL"
# The fuzz targets are built meanwhile (their step then only runs them): the integration
# tests leave the CPUs mostly idle.
(CC=clang build build-fuzz "$fuzzers" -Dfuzz=true) &
# Three processes at once, each with its own modules: the tests mostly wait on real time (audio
# paced at 20 ms a frame, timeouts, retries, the sim's calls) rather than use the CPU (one
# call takes a few per cent of a core), and every server has its own free port and temporary
# store, so they run side by side as they do alone. The modules are dealt out longest first,
# each to the process with fewer seconds so far, by integration_seconds: each module's
# seconds alone on 2 CPUs (a module not listed counts as 5). Every test_*.py under
# tests/integration runs in one of them; each one's output is kept apart and reported
# below as the single process's was.
integration_seconds="test_speech_cloud=103 test_speech_noise=95 test_synthesis=94 test_speech=83
  test_streams=37 test_outbound_placer=35 test_sim=34 test_attacks=21 test_sim_api_outbound=21
  test_sim_api=18 test_outbound_campaign=15 test_sim_switchboard=13 test_api=10 test_sim_providers=11 test_flows=9 test_agent_gather=6
  test_server=6 test_agent_partial=5 test_outbound_cli=5 test_outbound_sms=5 test_sim_llm=5
  test_sim_relay=5 test_agents_cli=3 test_deploy=2 test_tenants_set=2 test_cli=1 test_files=1
  test_logs=1 test_relay=1 test_sim_interactive=1 test_status_values=1 test_webhooks=1
  test_db=4 test_multi_instance=4 test_pg_faults=20 test_threads=14"
integration_split() { # prints "K MODULE" (K from 1 to integration_procs) for every module
  local w f k best
  local -a load
  for ((k = 1; k <= integration_procs; k++)); do load[k]=0; done
  while read -r w f; do
    f=${f%.py}
    best=1
    for ((k = 2; k <= integration_procs; k++)); do
      [ "${load[k]}" -lt "${load[best]}" ] && best=$k
    done
    load[best]=$((load[best] + w))
    echo "$best ${f//\//.}"
  done < <(find tests/integration -name 'test_*.py' | while read -r f; do
             w=$(tr ' ' '\n' <<<"$integration_seconds" | sed -n "s/^$(basename "$f" .py)=//p")
             echo "${w:-5} $f"
           done | sort -k1,1nr -k2)
}
integration_procs=3
split=$(integration_split)
# The tests that copy and migrate stores between engines use the PostgreSQL server.
export SB_TEST_POSTGRES=$pg_url
for ((k = 1; k <= integration_procs; k++)); do
  # shellcheck disable=SC2046  # one module a word
  pyunit_start "integration ($k/$integration_procs)" $(sed -n "s/^$k //p" <<<"$split")
done

# Every module that runs a server or a command on a store (the call log, status callbacks,
# flows, the job queue, campaigns, agents and their knowledge, transcripts, media streams,
# the attacks, the deployment files, several instances and several loops on one store),
# each server on a fresh schema: the same tests, the other engine: two processes more,
# beside the three above (they end sooner). The rest run on SQLite only: the sim on its
# own (no store); the speech modules, the longest, whose servers use the store as
# test_streams's do; the store's file modes (a SQLite file); and db copy and the
# PostgreSQL faults, which use both engines already.
if [ -n "$pg_url" ]; then
  SB_TEST_BACKEND=postgres pyunit_start "postgres:integration (1/2)" tests.integration.test_outbound_placer \
    tests.integration.test_webhooks tests.integration.test_threads tests.integration.test_outbound_campaign \
    tests.integration.test_outbound_sms tests.integration.test_agents_cli tests.integration.test_streams \
    tests.integration.test_logs
  SB_TEST_BACKEND=postgres pyunit_start "postgres:integration (2/2)" tests.integration.test_multi_instance \
    tests.integration.test_flows tests.integration.test_api tests.integration.test_outbound_cli \
    tests.integration.test_status_values tests.integration.test_agent_gather tests.integration.test_agent_partial \
    tests.integration.test_relay tests.integration.test_tenants_set tests.integration.test_cli \
    tests.integration.test_server tests.integration.test_attacks tests.integration.test_sim_switchboard \
    tests.integration.test_deploy tests.integration.test_sim_relay
fi
wait
for ((k = 1; k <= integration_procs; k++)); do
  pyunit_report "integration ($k/$integration_procs)" "$(grep -c "^$k " <<<"$split") modules"
done
if [ -n "$pg_url" ]; then
  pyunit_report "postgres:integration (1/2)" "placer, webhooks, several loops, campaigns, SMS, agents, streams, logs"
  pyunit_report "postgres:integration (2/2)" "several instances, flows, API, jobs, LLM turns, relay, CLI, server, attacks, nginx"
else
  echo "postgres:integration: 0 passed, 1 failed (no PostgreSQL server)"; count 0 1; failure "postgres:integration (no server)"
fi
unset SB_TEST_POSTGRES

step "under ThreadSanitizer"
# TSAN_OPTIONS: stop at the first report (the harness fails the test whose server
# printed one, or exited with TSan's code 66); tests/tsan.supp only silences
# races inside third-party libraries, each one explained there.
tsan_env="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/tsan.supp"
# Criterion's own runner cannot work under TSan (its sandbox maps a shared arena
# at addresses TSan reserves for its shadow memory), so the unit tests that start
# threads are compiled against tests/tsan/criterion/criterion.h, a stand-in for
# the part of Criterion they use, and run by tests/tsan/runner.c.
# Each is SOURCE:LIBS, the libraries of build-tsan/ it needs beyond store and core, comma-separated.
tsan_units="store/test_writer:libsb_store.a store/test_writer_retry:libsb_store.a server/test_workers:libsb_server.a
            server/test_routing:libsb_server.a,libsb_voice.a,libsb_flow.a
            net/test_http_client:libsb_net.a net/test_ws_client:libsb_net.a"
if build build-tsan "switchboard" -Db_sanitize=thread; then
  for u in $tsan_units; do
    src=${u%%:*} libs=${u##*:} name=tsan-$(basename "${u%%:*}")
    # shellcheck disable=SC2046  # pkg-config prints several flags
    if gcc -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=thread -Wall -Wextra -Wno-unused-parameter \
         -Wno-format-zero-length -Itests/tsan -Isrc tests/tsan/runner.c "tests/unit/$src.c" \
         -o "build-tsan/$name" $(printf 'build-tsan/%s ' ${libs//,/ }) build-tsan/libsb_store.a build-tsan/libsb_core.a \
         $(pkg-config --cflags --libs sqlite3 libcrypto libcurl libwebsockets libpq jansson) -lpthread >"$log/$name.cc" 2>&1; then
      TSAN_OPTIONS=$tsan_env criterion "tsan:unit-$(basename "$src")" "build-tsan/$name"
    else
      cat "$log/$name.cc"; printf 'tsan:%s: 0 passed, 1 failed\n' "$name"; count 0 1; failure "tsan:$name (build)"
    fi
  done
  # Every thread of the server: the loop (all of them), the writer (webhooks,
  # status callbacks, flows, transcripts), the placer (the HTTP API's calls), the
  # workers (media streams' speech), the agents' HTTP client (LLM agents on
  # Gather and ConversationRelay), under attack too. The other integration
  # modules (CLI, sim) start no server thread of their own and take as long
  # again under TSan, so they run only above.
  # Two processes at once, about even in time.
  # The PostgreSQL faults too: the thread that listens for routing changes runs there only.
  # Each server runs one event loop per core (two here); test_threads runs four, with a
  # call's webhooks, streams and LLM turns spread over them.
  SB_TEST_POSTGRES=$pg_url TSAN_OPTIONS=$tsan_env pyunit_build="$root/build-tsan" \
    pyunit_start "tsan:integration (1/2)" \
    tests.integration.test_speech tests.integration.test_server tests.integration.test_webhooks \
    tests.integration.test_agent_partial tests.integration.test_relay \
    tests.integration.test_speech_cloud.SpanishThroughTheStandInsTest tests.integration.test_pg_faults \
    tests.integration.test_threads
  TSAN_OPTIONS=$tsan_env pyunit_build="$root/build-tsan" pyunit_start "tsan:integration (2/2)" \
    tests.integration.test_streams tests.integration.test_attacks tests.integration.test_api \
    tests.integration.test_flows tests.integration.test_agent_gather \
    tests.integration.test_speech_cloud.CutMidUtteranceTest tests.integration.test_speech_cloud.ProviderOutageTest
  wait
  pyunit_report "tsan:integration (1/2)" "speech, server, webhooks, relay, PostgreSQL faults, loops"
  pyunit_report "tsan:integration (2/2)" "streams, attacks, API, flows, agents"
else
  count 0 1; failure "build-tsan"
fi

step "fuzz targets (${FUZZ_SECONDS:-3} s each)"
# Two targets at a time, one for each of the 2 CPUs: each still fuzzes for FUZZ_SECONDS.
fuzz_start() { # fuzz_start TARGET: fuzzes in the background; fuzz_report TARGET then counts
  local name corpus
  name=$(basename "$1") corpus="$log/corpus-$(basename "$1")"
  mkdir -p "$corpus"
  [ -d "fuzz/corpus/${name#fuzz_}" ] && cp fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null
  ("$1" -max_total_time="${FUZZ_SECONDS:-3}" -rss_limit_mb=1024 "$corpus" >"$log/$name.out" 2>&1
   echo $? >"$log/$name.rc") &
}
fuzz_report() {
  local name rc
  name=$(basename "$1")
  rc=$(cat "$log/$name.rc" 2>/dev/null || echo 1)
  if [ "$rc" -eq 0 ]; then
    printf '%s: 1 passed, 0 failed (%s)\n' "$name" "$(grep -a -oE 'Done [0-9]+ runs in [0-9]+ second' "$log/$name.out" | head -1)"
    count 1 0
  else
    tail -30 "$log/$name.out"; printf '%s: 0 passed, 1 failed\n' "$name"; count 0 1; failure "$name"
  fi
}
if CC=clang build build-fuzz "$fuzzers" -Dfuzz=true; then
  targets=()
  for f in build-fuzz/fuzz/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] && targets+=("$f")
  done
  for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pair=("${targets[@]:i:2}")
    for f in "${pair[@]}"; do fuzz_start "$f"; done
    wait
    for f in "${pair[@]}"; do fuzz_report "$f"; done
  done
else
  count 0 1; failure "build-fuzz"
fi

printf '(%d s)\n\nthe whole suite: %d s\n' "$((SECONDS - step_started))" "$SECONDS"
if [ "${#failures[@]}" -gt 0 ]; then
  echo "what failed:"
  printf '  %s\n' "${failures[@]}" | cut -c1-300 | head -12
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
