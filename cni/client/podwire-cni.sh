#!/bin/sh
# podwire-cni without a C compiler (scripts/build.mjs installs this as dist/podwire-cni when cc is missing): the
# same behaviour as podwire-cni.c, slower (a shell and a socat start per exec). When the config names an
# "agentSocket" that exists, the request is forwarded over it; otherwise the bundled Node plugin runs.
# Protocol: CNI_* lines, "--", the config; reply: exit code line, then the plugin's stdout.
run_node() {
  self=$(readlink -f "$0")
  exec node "${self%/*}/podwire-cni.mjs"
}
if [ -n "$PODWIRE_CNI_NO_AGENT" ]; then run_node; fi
input=
while IFS= read -r line || [ -n "$line" ]; do input="$input$line
"; done
case "$input" in
*'"agentSocket"'*)
  sock=${input#*\"agentSocket\"}
  sock=${sock#*\"}
  sock=${sock%%\"*}
  if [ -S "$sock" ]; then
    resp=$(printf 'CNI_COMMAND=%s\nCNI_CONTAINERID=%s\nCNI_NETNS=%s\nCNI_IFNAME=%s\nCNI_ARGS=%s\nCNI_PATH=%s\n--\n%s' \
      "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$input" |
      socat -t 60 -T 60 - "UNIX-CONNECT:$sock" 2>/dev/null)
    case "$resp" in
    [0-9]*)
      code=${resp%%"
"*}
      body=${resp#*"
"}
      [ "$body" = "$resp" ] && body=""
      [ -n "$body" ] && printf '%s\n' "$body"
      exit "$code"
      ;;
    esac
  fi
  ;;
esac
printf '%s' "$input" | run_node
