# Fuzz target "service_policy" (fuzz_service_policy: text, JSON and binary
# redirect policies through decoding, validation and a write-and-read-back
# of what is accepted; seeds: the sample redirect policy, the same in JSON
# and in binary, and variants written here: every kind of field, every
# kind of problem), sourced by scripts/fuzz. Defines:
#   fuzz_max_len   the longest input libFuzzer generates
#   fuzz_timeout   seconds one input may take before it counts as a hang
#   fuzz_seed DIR  writes the seed corpus into DIR ($root is the checkout)
fuzz_max_len=8192
fuzz_timeout=10

fuzz_seed() {  # fuzz_seed DIR
  echo "== service_policy: seed corpus from examples/data/redirect-policy.textpb and variants"
  local seeds="$1"
  cp "$root/examples/data/redirect-policy.textpb" "$seeds/sample.textpb"
  cat >"$seeds/sample.json" <<'JSON'
{
  "services": [{"id": "web-ports", "entries": [{"protocol": 6, "dst_ports": ["80", "443"]}]}],
  "groups": [{"id": "web", "criteria": [{"all_of": [{"key": "TAG", "operator": "EQUALS", "scope": "tier", "values": ["web"]}]}]}],
  "profiles": [
    {"id": "ids", "service": "intrusion detection", "instances": [{"endpoint": 101}, {"endpoint": 102, "healthy": false}], "failure": "FAIL_OPEN"},
    {"id": "ngfw", "instances": [{"endpoint": "201"}], "failure": "FAIL_CLOSED", "encapsulation": "NSH", "repinOnFailure": true}
  ],
  "chains": [{"id": "ids-then-ngfw", "profiles": ["ids", "ngfw"], "pathId": 100}],
  "rules": [
    {"id": 10, "sources": {"cidrs": ["10.200.0.0/16"]}, "action": "DO_NOT_REDIRECT"},
    {"id": 20, "services": ["web-ports"], "action": "REDIRECT", "target": "ids-then-ngfw"},
    {"id": 30, "sources": {"groups": ["web"]}, "direction": "OUT", "action": "REDIRECT", "target": "ids"}
  ]
}
JSON
  cat >"$seeds/every-field.textpb" <<'TEXT'
services { id: "dns" name: "DNS" entries { protocol: 17 src_ports: "1024-65535" dst_ports: "53" } entries { protocol: 1 icmp_type: 8 icmp_code: 0 } }
groups { id: "db" cidrs: ["10.1.0.0/16", "2001:db8::/32"] ranges: "10.2.0.1-10.2.0.9" vnic_ids: [4, 5] vm_ids: "vm-1" groups: "web" exclude_cidrs: "10.1.2.3" exclude_vm_ids: "vm-2" }
groups { id: "web" criteria { all_of { key: VM_NAME operator: MATCHES values: "^web-[0-9]+$" } all_of { key: OS_NAME operator: IN values: ["linux", "bsd"] } } }
profiles { id: "p" service: "s" instances { endpoint: 1 healthy: true } instances { endpoint: 2 healthy: false } failure: FAIL_CLOSED encapsulation: NSH repin_on_failure: true }
profiles { id: "q" instances { endpoint: 4294967295 } failure: FAIL_OPEN encapsulation: NONE }
chains { id: "c" profiles: ["q", "p"] path_id: 16777215 }
chains { id: "d" profiles: "p" }
rules { id: 1 name: "n" sources { groups: "web" negate: true } destinations { cidrs: "2001:db8::1" ranges: "2001:db8::5-2001:db8::9" vnic_ids: 3 } services: "dns" inline_services { protocol: 58 icmp_type: 128 } applied_to_groups: "db" applied_to_vnics: 9 direction: IN action: REDIRECT target: "c" disabled: true }
rules { id: 4294967294 direction: IN_OUT action: DO_NOT_REDIRECT }
TEXT
  cat >"$seeds/every-problem.textpb" <<'TEXT'
services { id: "s" entries { protocol: 300 dst_ports: "99999" } }
groups { id: "g" groups: ["g", "missing"] cidrs: "10.0.0.1/8" }
profiles { id: "" instances { endpoint: 0 } instances { endpoint: 0 } failure: 9 encapsulation: 7 }
profiles { id: "c" }
chains { id: "c" profiles: ["c", "", "x", "x", "y"] path_id: 16777216 }
chains { id: "e" path_id: 16777216 }
rules { id: 0 sources { negate: true } action: 3 target: "c" }
rules { id: 4294967295 action: DO_NOT_REDIRECT target: "C" direction: 5 }
rules { id: 4294967295 action: REDIRECT }
TEXT
  cat >"$seeds/every-problem.json" <<'JSON'
{"profiles": [{"id": "a b", "instances": [{"endpoint": 1}, {"endpoint": 1}], "failure": 5}],
 "chains": [{"id": "a b", "profiles": ["a b", "a b"], "path_id": "16777216"}],
 "rules": [{"id": 1, "action": "REDIRECT", "target": "A B", "sources": {"cidrs": ["::ffff:1.2.3.4"]}},
           {"id": 1, "action": 7, "destinations": {"ranges": ["10.0.0.9-10.0.0.1"]}}]}
JSON
  local protoc
  protoc=$(command -v protoc || true)
  if [ -n "$protoc" ]; then
    for f in sample every-field every-problem; do
      "$protoc" --encode=fw.v1.RedirectPolicy -I"$root/libfw/proto" fw/v1/service.proto \
        <"$seeds/$f.textpb" >"$seeds/binary-$f.pb" 2>/dev/null || rm -f "$seeds/binary-$f.pb"
    done
  fi
  echo "$(ls "$seeds" | wc -l) seed policies"
}
