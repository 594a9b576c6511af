#!/bin/sh
# BotMaker's stand-in bot (tests only): shows what a real bot would see, without
# ever printing a secret's value.
echo "standin: uid=$(id -u) gid=$(id -g) bot=$BOTMAKER_BOT_NAME"
for f in /run/secrets/*; do
    [ -f "$f" ] && echo "standin: secret $(basename "$f") present ($(wc -c < "$f") bytes)"
done
echo "standin: a line on stderr" >&2
# A crash loop on demand: a config whose model is "standin-crash" is refused, as a
# gateway refuses a config it cannot load (the restart policy brings it back).
if grep -q '"openai/standin-crash"' /state/openclaw.json 2>/dev/null; then
    printf 'standin: fatal: \033[31mmodel standin-crash cannot load\033[0m\n' >&2
    sleep 1
    exit 3
fi
echo "ok $BOTMAKER_BOT_NAME" > "$HOME/index.html"
httpd -p 8080 -h "$HOME"
if [ "${STANDIN_IGNORE_TERM:-0}" = 1 ]; then
    trap '' TERM
else
    trap 'echo "standin: stopping"; exit 0' TERM
fi
n=0
while true; do
    n=$((n + 1))
    echo "standin: tick $n"
    sleep 1
done
