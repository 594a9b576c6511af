#!/bin/sh
# BotMaker's stand-in bot (tests only): shows what a real bot would see, without
# ever printing a secret's value.
echo "standin: uid=$(id -u) gid=$(id -g) bot=$BOTMAKER_BOT_NAME"
for f in /run/secrets/*; do
    [ -f "$f" ] && echo "standin: secret $(basename "$f") present ($(wc -c < "$f") bytes)"
done
echo "standin: a line on stderr" >&2
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
