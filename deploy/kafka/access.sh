#!/usr/bin/env bash
# The kafka-access job of docker-compose.yml: as the admin, gives every user named in acls.txt its
# SCRAM-SHA-512 password and grants the ACLs of acls.txt. Run at every `up`: setting a password
# again replaces it, and adding an ACL that exists changes nothing.
#
# Environment: ADMIN_BOOTSTRAP (a broker's BROKER listener), ADMIN_PASSWORD, and for each user
# parcours-<name> a <NAME>_PASSWORD (parcours-intake: INTAKE_PASSWORD).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# KAFKA_BIN: the image's tools unless told otherwise (tests/unit/test_kafka_security.py runs stand-ins).
bin=${KAFKA_BIN:-/opt/kafka/bin}
bootstrap=${ADMIN_BOOTSTRAP:-kafka:9094}
deadline=$((SECONDS + 300))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

: "${ADMIN_PASSWORD:?ADMIN_PASSWORD is not set}"
printf '%s\n' security.protocol=SASL_PLAINTEXT sasl.mechanism=PLAIN \
  "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$ADMIN_PASSWORD\";" \
  > "$work/admin.properties"

# The brokers answer before the KRaft quorum may accept writes (three brokers starting together):
# every step is retried until the deadline; each is idempotent.
admin() {
  local tool=$1
  shift
  until "$bin/$tool" --bootstrap-server "$bootstrap" --command-config "$work/admin.properties" "$@" > "$work/out" 2>&1; do
    if ((SECONDS > deadline)); then
      cat "$work/out" >&2
      echo "kafka-access: $tool $* still failing after 300 s" >&2
      exit 1
    fi
    echo "kafka-access: $tool not yet accepted, retrying"
    sleep 3
  done
}

acls=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/acls.txt")

for principal in $(awk '{ print $1 }' <<< "$acls" | sort -u); do
  user=${principal#User:}
  name=${user#parcours-}
  variable="${name^^}_PASSWORD"
  variable=${variable//-/_}
  password=${!variable:-}
  if [[ -z $password ]]; then
    echo "kafka-access: $variable is not set, and $user needs a password" >&2
    exit 1
  fi
  # From a file rather than --add-config: a command line, password included, is visible to every
  # user of the host while it runs. In a file the value takes no brackets: password=...
  printf 'SCRAM-SHA-512=password=%s\n' "$password" > "$work/scram.properties"
  admin kafka-configs.sh --alter --entity-type users --entity-name "$user" --add-config-file "$work/scram.properties"
  echo "kafka-access: SCRAM-SHA-512 password set for $user"
done

while read -r principal operation resource pattern names; do
  resources=()
  for name in $names; do
    resources+=("--$resource" "$name")
  done
  admin kafka-acls.sh --add --allow-principal "$principal" --operation "$operation" \
    --resource-pattern-type "$pattern" "${resources[@]}"
  echo "kafka-access: $principal may $operation $resource $pattern $names"
done <<< "$acls"

echo "kafka-access: done"
