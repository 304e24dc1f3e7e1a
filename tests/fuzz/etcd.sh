# Fuzz target "etcd" (fuzz_etcd: HTTP responses from etcd's JSON gateway
# through the HTTP decoder, the watch stream's lines, the gateway JSON and
# the VM values), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=4096
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== etcd: seed corpus of gateway responses (as etcd 3.4 sends them)"
  local seeds="$1"
  # A FeedVm {id: "a", vnics: [{id: 1, addresses: [10.0.0.1]}]} in base64,
  # under the key /libfw/feed/vms/a.
  local key="L2xpYmZ3L2ZlZWQvdm1zL2E=" value="CgFhMggIARoECgAAAQ==" rev='"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"2"}'
  local watch range error
  watch=$(printf '{"result":{%s,"created":true}}\n{"result":{%s,"events":[{"kv":{"key":"%s","create_revision":"5","mod_revision":"7","version":"2","value":"%s"}},{"type":"DELETE","kv":{"key":"%s","mod_revision":"7"}}]}}\n{"result":{%s,"canceled":true,"compact_revision":"6"}}\n{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}\n' \
    "$rev" "$rev" "$key" "$value" "$key" "$rev")
  range=$(printf '{%s,"kvs":[{"key":"%s","create_revision":"5","mod_revision":"7","version":"2","value":"%s"}],"more":true,"count":"3"}' \
    "$rev" "$key" "$value")
  error='{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}'
  # The first byte: read size minus one in bits 0-6, bit 7 = close at the end.
  local chunked="HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
  { printf '\177'; printf "$chunked"; printf '%x\r\n' "${#watch}"; printf '%s\r\n0\r\n\r\n' "$watch"; } >"$seeds/watch-whole"
  { printf '\000'; printf "$chunked"; printf '%x\r\n' "${#watch}"; printf '%s\r\n0\r\n\r\n' "$watch"; } >"$seeds/watch-bytewise"
  { printf '\003'; printf "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" "${#range}"; printf '%s' "$range"; } >"$seeds/range"
  { printf '\177'; printf "$chunked"; printf '%x;ext=1\r\n' "${#error}"; printf '%s\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n' "$error"; } >"$seeds/range-compacted"
  { printf '\377'; printf 'HTTP/1.0 200 OK\r\n\r\n'; printf '%s' "$range"; } >"$seeds/until-close"
  echo "$(ls "$seeds" | wc -l) seed responses"
}
