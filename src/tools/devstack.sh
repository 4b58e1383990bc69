#!/usr/bin/env bash
# `make run`, `make stop`, `make migrate`: the gateway with a demo tenant on
# a local PostgreSQL and Redis under build/var, on unix sockets.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
var="$top/build/var"

# As root, PostgreSQL and Redis run as "postgres" and nginx workers as
# "nobody": when they cannot reach the work tree (a private home), the
# stack lives under /var/tmp and build/var points there.
if [ "$(id -u)" -eq 0 ] && ! runuser -u nobody -- test -x "$top/build" 2>/dev/null; then
    real="/var/tmp/nginx-helpdesk-$(printf %s "$top" | sha1sum | cut -c1-12)"
    mkdir -p "$real"
    chmod 755 "$real"
    if [ ! -L "$var" ]; then
        rm -rf "$var"
        mkdir -p "$top/build"
        ln -s "$real" "$var"
    fi
    var="$real"
fi
module="$top/build/ngx_http_helpdesk_module.so"
stack="$here/stack.sh"
url="http://127.0.0.1:8080/api"
# the website chat: a customer's page with the install snippet, and where
# the widget on it connects
chat_demo_url="http://www.demo.localhost:8080/"
chat_ws_url="ws://localhost:8080/chat/v1/ws?tenant=demo"

nginx_pid() {
    cat "$var/run/nginx.pid" 2>/dev/null
}

nginx_running() {
    pid=$(nginx_pid)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

random_key() {
    printf '%s%s' "$1" "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
}

stop() {
    if nginx_running; then
        kill -QUIT "$(nginx_pid)" 2>/dev/null || true
        for _ in $(seq 1 50); do nginx_running || break; sleep 0.1; done
    fi
    mail_sink_stop
    pebble_stop
    "$stack" redis-stop "$var"
    "$stack" pg-stop "$var"
}

# The demo's mail goes to a local SMTP server (src/tools/smtp-sink.py,
# python3-aiosmtpd) on 127.0.0.1:2525, with STARTTLS under a certificate
# made here (nginx trusts it through helpdesk_smtp ca_file=), which keeps
# every mail as build/var/mail/NNNNNN.eml.
mail_sink_pid() {
    cat "$var/run/mail-sink.pid" 2>/dev/null
}

mail_sink_stop() {
    pid=$(mail_sink_pid || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
    rm -f "$var/run/mail-sink.pid"
}

mail_sink_start() {
    mkdir -p "$var/mail" "$var/mail-sink" "$var/run" "$var/log"
    if [ ! -f "$var/mail-sink/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
            -keyout "$var/mail-sink/key.pem" -out "$var/mail-sink/cert.pem" 2>/dev/null
        chmod 644 "$var/mail-sink/cert.pem"
    fi
    mail_sink_stop
    /usr/bin/python3 "$here/smtp-sink.py" --port 2525 --dir "$var/mail" \
        --cert "$var/mail-sink/cert.pem" --key "$var/mail-sink/key.pem" \
        > "$var/log/mail-sink.log" 2>&1 &
    echo $! > "$var/run/mail-sink.pid"
    for _ in $(seq 1 50); do
        grep -q ready "$var/log/mail-sink.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "warning: the mail sink did not start (see build/var/log/mail-sink.log)" >&2
}

# Customers' own domains with automatic TLS, on this machine alone:
# pebble-challtestsrv is the DNS (the customer's zone: records set over its
# management API) and Pebble the ACME CA, both on loopback ports.  Pebble
# validates HTTP-01 on port 8080 of whatever challtestsrv answers
# (127.0.0.1), i.e. the demo's own nginx, and the names it issues for are
# served on 127.0.0.1:8443.  Without pebble (make deps installs it) the
# demo runs without this part.
PEBBLE_ACME=14000       # Pebble's ACME directory: https://127.0.0.1:14000/dir
PEBBLE_MGMT=15000       # Pebble's management interface (its roots)
CTS_DNS=8053            # challtestsrv's DNS (UDP and TCP)
CTS_MGMT=8055           # challtestsrv's management API (plain HTTP)
TLS_PORT=8443           # the demo's TLS catch-all server
pebble_dir="$var/pebble"

have_pebble() {
    [ -x /usr/bin/pebble ] && [ -x /usr/bin/pebble-challtestsrv ]
}

pid_alive() {
    pid=$(cat "$var/run/$1.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

pebble_stop() {
    for what in pebble challtestsrv; do
        if pid_alive "$what"; then
            pid=$(cat "$var/run/$what.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$var/run/$what.pid"
    done
}

# the catch-all TLS server's own certificate (served to names that have
# none yet; the provider's wildcard in production)
fallback_cert() {
    mkdir -p "$var/tls"
    [ -f "$var/tls/fallback.crt" ] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,DNS:*.localhost" \
        -keyout "$var/tls/fallback.key" -out "$var/tls/fallback.crt" 2>/dev/null
    chmod 600 "$var/tls/fallback.key"
}

# Pebble's listener: its own small CA (ca.pem, what nginx's ACME client
# trusts through ca_bundle=) and a certificate for 127.0.0.1 under it
pebble_listener_cert() {
    d="$pebble_dir"
    [ -f "$d/cert.pem" ] && [ -f "$d/ca.pem" ] && return 0
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 -subj "/CN=Pebble listener demo CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/key.pem" -out "$d/listener.csr" -subj /CN=localhost 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
        > "$d/ext.cnf"
    openssl x509 -req -in "$d/listener.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 3650 -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
    chmod 600 "$d/ca.key" "$d/key.pem"
    chmod 644 "$d/ca.pem" "$d/cert.pem"
}

wait_port() {  # $1 port, $2 what, $3 its log
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "warning: $2 is not listening on 127.0.0.1:$1 (see $3)" >&2
    return 1
}

pebble_start() {
    mkdir -p "$pebble_dir/roots" "$var/run" "$var/log"
    chmod 755 "$pebble_dir"
    pebble_stop
    pebble_listener_cert
    cat > "$pebble_dir/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_ACME",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
    "certificate": "$pebble_dir/cert.pem",
    "privateKey": "$pebble_dir/key.pem",
    "httpPort": 8080,
    "tlsPort": $TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "certificateValidityPeriod": 7776000
  }
}
JSON
    /usr/bin/pebble-challtestsrv -dns01 "127.0.0.1:$CTS_DNS" -http01 '' -https01 '' \
        -tlsalpn01 '' -management "127.0.0.1:$CTS_MGMT" \
        -defaultIPv4 127.0.0.1 -defaultIPv6 '' \
        > "$var/log/challtestsrv.log" 2>&1 &
    echo $! > "$var/run/challtestsrv.pid"
    # no pause before validating (Pebble waits up to 15 s otherwise)
    PEBBLE_VA_NOSLEEP=1 /usr/bin/pebble -config "$pebble_dir/pebble.json" \
        -dnsserver "127.0.0.1:$CTS_DNS" -strict=false \
        > "$var/log/pebble.log" 2>&1 &
    echo $! > "$var/run/pebble.pid"
    wait_port "$CTS_MGMT" pebble-challtestsrv build/var/log/challtestsrv.log || return 1
    wait_port "$PEBBLE_MGMT" pebble build/var/log/pebble.log || return 1
    # Pebble makes a new root at every start: each one is kept, and
    # root.pem holds them all, so the certificates issued before a
    # restart still verify with it
    root=$(curl -sf --cacert "$pebble_dir/ca.pem" "https://127.0.0.1:$PEBBLE_MGMT/roots/0") || {
        echo "warning: Pebble's root could not be fetched" >&2; return 1; }
    printf '%s\n' "$root" > "$pebble_dir/roots/$(printf '%s' "$root" | sha256sum | cut -c1-16).pem"
    cat "$pebble_dir"/roots/*.pem > "$pebble_dir/root.pem"
    chmod 644 "$pebble_dir"/*.pem "$pebble_dir"/roots/*.pem
    chmod 600 "$pebble_dir/ca.key" "$pebble_dir/key.pem"
}

start_stack() {
    "$stack" pg-start "$var"
    "$stack" redis-start "$var"
    "$stack" migrate "$var"
}

# A query of the local database as the superuser: one value per line.
q() {
    "$stack" psql "$var" -tA -c "$1"
}

demo_has_user() {
    [ "$(q "SELECT count(*) FROM helpdesk.users u JOIN helpdesk.tenants t USING (tenant_id)
            WHERE t.slug = 'demo' AND u.email = '$1'")" != 0 ]
}

demo_has_ticket() {
    [ "$(q "SELECT count(*) FROM helpdesk.tickets k JOIN helpdesk.tenants t USING (tenant_id)
            WHERE t.slug = 'demo' AND k.subject = '$1'")" != 0 ]
}

# The demo tenant and its API key, and build/var/demo.env.  Every step is
# safe to repeat: a lost demo.env, a lost provider key or a database that
# was seeded halfway are completed, not fatal.  The portal's and the
# console's lines are kept while the accounts they name still exist.
seed() {
    [ -s "$var/provider.key" ] || { random_key "hdp_" > "$var/provider.key"; chmod 600 "$var/provider.key"; }
    "$stack" provider-key "$var" "$var/provider.key"
    secret_keys
    key=$(sed -n 's/^HELPDESK_API_KEY=//p' "$var/demo.env" 2>/dev/null | tail -1)
    [ -n "$key" ] || key=$(random_key "hdk_")
    # idempotent: the tenant, its admin and this key, where missing
    "$stack" psql "$var" -v api_key="$key" -f - < "$top/sql/demo_seed.sql" >/dev/null
    # the demo's mailbox address proven, as a provider may for its own
    # tenants: its replies go From it through the dev relay (mail through
    # the provider's relay goes From an address proven, docs/architecture.md)
    q "INSERT INTO helpdesk.email_senders (tenant_id, address)
       SELECT tenant_id, 'suporte@demo.example' FROM helpdesk.tenants WHERE slug = 'demo'
       ON CONFLICT DO NOTHING" >/dev/null
    keep=""
    if [ -f "$var/demo.env" ]; then
        if demo_has_user "cliente@demo.example" && grep -q '^HELPDESK_PORTAL_URL=' "$var/demo.env"; then
            keep="$keep$(grep -E '^HELPDESK_(PORTAL_URL|CUSTOMER_EMAIL|CUSTOMER_PASSWORD)=' "$var/demo.env" || true)
"
        fi
        if [ "$(q "SELECT count(*) FROM helpdesk.email_mailboxes m JOIN helpdesk.tenants t USING (tenant_id)
                   WHERE t.slug = 'demo' AND m.address = 'suporte@demo.example' AND m.deleted_at IS NULL")" != 0 ]; then
            keep="$keep$(grep -E '^HELPDESK_EMAIL_INBOUND_URL=' "$var/demo.env" || true)
"
        fi
        if demo_has_user "atendente@demo.example" && grep -q '^HELPDESK_CONSOLE_URL=' "$var/demo.env"; then
            keep="$keep$(grep -E '^HELPDESK_(CONSOLE_URL|AGENT_EMAIL|AGENT_PASSWORD)=' "$var/demo.env" || true)
"
        fi
    fi
    {
        echo "HELPDESK_URL=$url"
        echo "HELPDESK_API_KEY=$key"
        echo "HELPDESK_PROVIDER_KEY=$(cat "$var/provider.key")"
        echo "HELPDESK_CHAT_DEMO_URL=$chat_demo_url"
        echo "HELPDESK_CHAT_WS_URL=$chat_ws_url"
        printf '%s' "$keep" | grep -v '^$' || true
    } > "$var/demo.env.tmp"
    mv "$var/demo.env.tmp" "$var/demo.env"
}

# A new password for an account of the demo tenant that already exists
# (its password was lost with demo.env), through the reset link the product
# sends: $1 the portal's or the console's URL, $2 the email, $3 the password.
reset_password() {
    rjar="$var/tmp/reset.cookies"
    rm -f "$rjar"
    curl -sf --resolve demo.localhost:8080:127.0.0.1 -c "$rjar" -o /dev/null "$1/" || return 1
    rcsrf=$(awk '$6 == "hd_csrf" { print $7 }' "$rjar" | tail -1)
    last=$(q "SELECT coalesce(max(outbox_id), 0) FROM helpdesk.outbox WHERE event_type = 'email.password_reset'")
    curl -sf --resolve demo.localhost:8080:127.0.0.1 -b "$rjar" -o /dev/null -X POST \
         -H "X-CSRF-Token: $rcsrf" -H "Content-Type: application/json" \
         -d "{\"email\": \"$2\"}" "$1/_/api/reset" || return 1
    link=$(q "SELECT payload->>'link' FROM helpdesk.outbox WHERE event_type = 'email.password_reset'
              AND outbox_id > $last AND payload->>'link' LIKE '$1%' ORDER BY outbox_id DESC LIMIT 1")
    [ -n "$link" ] || return 1
    curl -sf --resolve demo.localhost:8080:127.0.0.1 -b "$rjar" -o /dev/null -X POST \
         -H "X-CSRF-Token: $rcsrf" -H "Content-Type: application/json" \
         -d "{\"password\": \"$3\"}" "$1/_/api/reset/${link##*/reset/}" || return 1
    rm -f "$rjar"
}

# The portal's demo data goes in through the product itself, once nginx
# is up: a customer signs up on the portal and opens tickets there, and
# the API writes knowledge-base articles and the team's answers.
seed_portal() {
    grep -q '^HELPDESK_PORTAL_URL=' "$var/demo.env" && return 0
    # shellcheck disable=SC1091
    . "$var/demo.env"
    portal="http://demo.localhost:8080"
    email="cliente@demo.example"
    password=$(random_key "")
    jar="$var/tmp/portal.cookies"
    rm -f "$jar"
    pc() {  # a call of the portal's page, with its cookies and CSRF token
        csrf=$(awk '$6 == "hd_csrf" { print $7 }' "$jar" | tail -1)
        curl -sf --resolve demo.localhost:8080:127.0.0.1 -b "$jar" -c "$jar" \
             -H "X-CSRF-Token: $csrf" -H "Content-Type: application/json" "$@"
    }
    ac() {  # a call of the API
        curl -sf -H "Authorization: Bearer $HELPDESK_API_KEY" -H "Content-Type: application/json" "$@"
    }
    for _ in $(seq 1 50); do
        curl -sf --resolve demo.localhost:8080:127.0.0.1 -c "$jar" -o /dev/null "$portal/" && break
        sleep 0.1
    done
    if demo_has_user "$email"; then
        # seeded before, its password lost: a new one through a reset link
        reset_password "$portal" "$email" "$password" || return 1
        pc -o /dev/null -X POST "$portal/_/api/login" \
           -d "{\"email\": \"$email\", \"password\": \"$password\"}" || return 1
    else
        pc -o /dev/null -X POST "$portal/_/api/signup" \
           -d "{\"name\": \"Carla Cliente\", \"email\": \"$email\", \"password\": \"$password\"}" || return 1
    fi
    if ! demo_has_ticket "Site fora do ar desde as 9h"; then
    n1=$(pc -X POST "$portal/_/api/tickets" -d '{"subject": "Site fora do ar desde as 9h", "category": "technical",
         "priority": "urgent", "description": "O site da loja não abre desde as 9h. Aparece erro 502.",
         "equipment": "computer", "contact_phone": "+55 11 98888-0000"}' | sed 's/.*"number": "\([^"]*\)".*/\1/')
    n2=$(pc -X POST "$portal/_/api/tickets" -d '{"subject": "Segunda via do boleto de novembro", "category": "billing",
         "priority": "normal", "description": "Preciso da segunda via do boleto de novembro."}' | sed 's/.*"number": "\([^"]*\)".*/\1/')
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/tickets/$n1/comments" \
       -d '{"body": "Olá Carla! Já estamos verificando o servidor da sua loja. Retornamos em instantes."}'
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/tickets/$n2/comments" \
       -d '{"body": "A segunda via foi enviada para o seu e-mail."}'
    ac -o /dev/null -X PATCH "$HELPDESK_URL/v1/tickets/$n2" -d '{"status": "resolved"}'
    fi
    if [ "$(q "SELECT count(*) FROM helpdesk.kb_articles a JOIN helpdesk.tenants t USING (tenant_id)
               WHERE t.slug = 'demo'")" = 0 ]; then
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/kb/categories" -d '{"slug": "hospedagem", "name": "Hospedagem", "position": 1}'
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/kb/categories" -d '{"slug": "financeiro", "name": "Financeiro", "position": 2}'
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/kb/articles" -d '{"slug": "site-fora-do-ar", "category": "hospedagem",
       "language": "pt-BR", "title": "O que fazer quando o site está fora do ar",
       "body": "1. Confira se o domínio está em dia.\n2. Veja se o **DNS** aponta para o nosso servidor.\n3. Se aparecer *erro 502*, abra um chamado: nossa equipe verifica o servidor."}'
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/kb/articles" -d '{"slug": "segunda-via-boleto", "category": "financeiro",
       "language": "pt-BR", "title": "Como emitir a segunda via do boleto",
       "body": "Entre na área do cliente, abra **Faturas** e clique em *Segunda via*. O boleto atualizado vale por 3 dias."}'
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/kb/articles" -d '{"slug": "configurar-email", "category": "hospedagem",
       "language": "pt-BR", "title": "Configurar o e-mail no celular",
       "body": "Use IMAP na porta 993 (SSL) e SMTP na porta 465. O usuário é o endereço completo."}'
    fi
    rm -f "$jar"
    cat >> "$var/demo.env" <<ENV
HELPDESK_PORTAL_URL=$portal/
HELPDESK_CUSTOMER_EMAIL=$email
HELPDESK_CUSTOMER_PASSWORD=$password
ENV
}

# The console's demo: an admin agent invited through the API who chooses a
# password on the console, and a WhatsApp conversation beside the portal
# and API tickets (a 360dialog number whose deliveries are posted here as
# the provider would; its sends go nowhere on this machine).
seed_console() {
    grep -q '^HELPDESK_CONSOLE_URL=' "$var/demo.env" && return 0
    # shellcheck disable=SC1091
    . "$var/demo.env"
    console="http://demo.localhost:8080/agent"
    agent="atendente@demo.example"
    apass=$(random_key "")
    jar="$var/tmp/console.cookies"
    rm -f "$jar"
    ac() {
        curl -sf -H "Authorization: Bearer $HELPDESK_API_KEY" -H "Content-Type: application/json" "$@"
    }
    if demo_has_user "$agent"; then
        # seeded before, its password lost: a new one through a reset link
        reset_password "$console" "$agent" "$apass" || return 1
        curl -sf --resolve demo.localhost:8080:127.0.0.1 -c "$jar" -o /dev/null "$console/" || return 1
        csrf=$(awk '$6 == "hd_csrf" { print $7 }' "$jar" | tail -1)
    else
        uid=$(ac -X POST "$HELPDESK_URL/v1/users" \
              -d "{\"email\": \"$agent\", \"name\": \"Alice Atendente\", \"role\": \"admin\"}" \
              | sed 's/.*"id": *"\([^"]*\)".*/\1/') || return 1
        ac -o /dev/null -X POST "$HELPDESK_URL/v1/users/$uid/invitation" -d "{\"url\": \"$console\"}" || return 1
        link=$(q "SELECT payload->>'link' FROM helpdesk.outbox
                  WHERE event_type = 'email.invitation'
                  ORDER BY outbox_id DESC LIMIT 1")
        curl -sf --resolve demo.localhost:8080:127.0.0.1 -c "$jar" -o /dev/null "$console/" || return 1
        csrf=$(awk '$6 == "hd_csrf" { print $7 }' "$jar" | tail -1)
        curl -sf --resolve demo.localhost:8080:127.0.0.1 -b "$jar" -o /dev/null -X POST \
             -H "X-CSRF-Token: $csrf" -H "Content-Type: application/json" \
             -d "{\"password\": \"$apass\"}" "$console/_/api/reset/${link##*/reset/}" || return 1
    fi

    # a customer who called: the admin opens the ticket from the console
    # (the REST API with the console's session: the phone channel)
    curl -sf --resolve demo.localhost:8080:127.0.0.1 -b "$jar" -c "$jar" -o /dev/null -X POST \
         -H "X-CSRF-Token: $csrf" -H "Content-Type: application/json" \
         -d "{\"email\": \"$agent\", \"password\": \"$apass\"}" "$console/_/api/login" || return 1
    csrf=$(awk '$6 == "hd_csrf" { print $7 }' "$jar" | tail -1)
    demo_has_ticket "Ligou: a impressora fiscal não imprime" ||
    curl -sf --resolve demo.localhost:8080:127.0.0.1 -b "$jar" -o /dev/null -X POST \
         -H "X-CSRF-Token: $csrf" -H "Content-Type: application/json" \
         -d '{"subject": "Ligou: a impressora fiscal não imprime", "description": "Cliente ligou às 14h; já reiniciou a impressora.",
              "requester_name": "Paulo Prado", "requester_phone": "+55 11 3333-2222", "priority": "normal"}' \
         "$console/_/rest/v1/tickets" || echo "warning: the demo phone ticket could not be opened" >&2
    rm -f "$jar"

    demo_has_ticket "Alerta: disco do servidor web01 acima de 90%" ||
    ac -o /dev/null -X POST "$HELPDESK_URL/v1/tickets" -d '{"subject": "Alerta: disco do servidor web01 acima de 90%",
       "description": "O monitoramento detectou uso de disco de 93% em web01 (/var).", "priority": "high",
       "category": "technical", "requester_email": "monitoramento@demo.example", "requester_name": "Monitoramento"}'

    if [ "$(q "SELECT count(*) FROM helpdesk.whatsapp_connections c JOIN helpdesk.tenants t USING (tenant_id)
               WHERE t.slug = 'demo'")" = 0 ]; then
    hook=$(ac -X POST "$HELPDESK_URL/v1/whatsapp/connections" \
           -d '{"provider": "360dialog", "display_phone_number": "+55 11 4000-0000",
                "api_key": "demo"}' \
           | sed 's/.*"webhook_url": *"\([^"]*\)".*/\1/')
    now=$(date +%s)
    curl -sf -o /dev/null -X POST -H "Content-Type: application/json" "$hook" -d "{\"object\":
         \"whatsapp_business_account\", \"entry\": [{\"id\": \"demo\", \"changes\": [{\"field\": \"messages\",
         \"value\": {\"messaging_product\": \"whatsapp\", \"contacts\": [{\"profile\": {\"name\": \"Marcos Moreira\"},
         \"wa_id\": \"5511977776666\"}], \"messages\": [{\"from\": \"5511977776666\", \"id\": \"wamid.demo1\",
         \"timestamp\": \"$now\", \"type\": \"text\", \"text\": {\"body\": \"Boa tarde! Meu e-mail parou de receber mensagens desde ontem.\"}}]}}]}]}" \
         || echo "warning: the demo WhatsApp message could not be delivered" >&2
    fi

    cat >> "$var/demo.env" <<ENV
HELPDESK_CONSOLE_URL=$console/
HELPDESK_AGENT_EMAIL=$agent
HELPDESK_AGENT_PASSWORD=$apass
ENV
}

# The demo's mailbox: mail posted to its inbound URL (as an MTA's pipe
# would) opens email tickets.  The URL is shown once, so it is kept in
# demo.env; without it (lost), the mailbox's token is replaced.
seed_email() {
    grep -q '^HELPDESK_EMAIL_INBOUND_URL=' "$var/demo.env" && return 0
    # shellcheck disable=SC1091
    . "$var/demo.env"
    id=$(q "SELECT mailbox_id FROM helpdesk.email_mailboxes m JOIN helpdesk.tenants t USING (tenant_id)
            WHERE t.slug = 'demo' AND m.address = 'suporte@demo.example' AND m.deleted_at IS NULL")
    if [ -n "$id" ]; then
        out=$(curl -sf -X PATCH "$HELPDESK_URL/v1/email/mailboxes/$id" \
              -H "Authorization: Bearer $HELPDESK_API_KEY" -H "Content-Type: application/json" \
              -d '{"rotate_token": true}') || return 1
    else
        out=$(curl -sf -X POST "$HELPDESK_URL/v1/email/mailboxes" \
              -H "Authorization: Bearer $HELPDESK_API_KEY" -H "Content-Type: application/json" \
              -d '{"address": "suporte@demo.example", "name": "Suporte"}') || return 1
    fi
    inbound=$(printf '%s' "$out" | sed -n 's/.*"inbound_url": *"\([^"]*\)".*/\1/p')
    [ -n "$inbound" ] || return 1
    echo "HELPDESK_EMAIL_INBOUND_URL=$inbound" >> "$var/demo.env"
}

# The key file of secrets at rest, mode 0600: one key "<id> <base64>",
# the first one encrypts.
new_secret_key() {
    printf 'k%s %s\n' "$(date +%Y%m%d%H%M%S)" "$(openssl rand -base64 32)"
}

secret_keys() {
    if [ ! -s "$var/secret.keys" ]; then
        (umask 077; new_secret_key > "$var/secret.keys")
    fi
    chmod 600 "$var/secret.keys"
}

# make rotate-secrets: a new key first in the file, nginx reloaded, every
# secret re-encrypted under it by the module, then the old keys removed.
rotate() {
    if ! nginx_running; then
        echo "nginx-helpdesk is not running (make run first)." >&2
        exit 1
    fi
    secret_keys
    new=$(new_secret_key)
    (umask 077
     { echo "$new"; grep -v '^[[:space:]]*\(#\|$\)' "$var/secret.keys"; } > "$var/secret.keys.new")
    mv "$var/secret.keys.new" "$var/secret.keys"
    nginx -t -q -p "$var" -c "$var/nginx.conf"
    nginx -s reload -p "$var" -c "$var/nginx.conf"
    # shellcheck disable=SC1091
    . "$var/demo.env"
    # the old keys stay in the file unless every value is under the new one
    "$top/src/tools/rotate-secrets.sh" "$HELPDESK_URL" "$var/provider.key" "${new%% *}" 120
    # the old workers finish what they had started, maybe writing a secret
    # under the old key: asked again once they are gone (the next pass
    # comes within a minute)
    master=$(nginx_pid)
    while ps -o args= --ppid "$master" | grep -q 'shutting down'; do
        sleep 0.2
    done
    "$top/src/tools/rotate-secrets.sh" "$HELPDESK_URL" "$var/provider.key" "${new%% *}" 120
    (umask 077; head -1 "$var/secret.keys" > "$var/secret.keys.new")
    mv "$var/secret.keys.new" "$var/secret.keys"
    nginx -s reload -p "$var" -c "$var/nginx.conf"
    echo "the old keys are out of $var/secret.keys"
}

render_conf() {
    mkdir -p "$var/tmp"
    user_line=""
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user nobody nogroup;"
    fi
    # customers' domains with automatic TLS: the "@TLS" blocks with
    # Pebble, the "@NOTLS" ones without
    if [ "${tls_demo:-}" = 1 ]; then
        leave_out='/# @NOTLS{/,/# @NOTLS}/d'
    else
        leave_out='/# @TLS{/,/# @TLS}/d'
    fi
    sed -e "$leave_out" -e "s|@VAR@|$var|g" -e "s|@MODULE@|$module|g" -e "s|@USER@|$user_line|" \
        "$top/conf/nginx-dev.conf" > "$var/nginx.conf"
    # the demo's customer website, where nginx's workers can read it
    rm -rf "$var/demo-site"
    cp -R "$top/conf/demo-site" "$var/demo-site"
    chmod -R a+rX "$var/demo-site"
}

case "${1:-run}" in

run)
    if nginx_running; then
        echo "nginx-helpdesk is already running (make stop to stop it)."
        cat "$var/demo.env"
        exit 0
    fi
    start_stack
    mail_sink_start
    fallback_cert
    tls_demo=0
    if ! have_pebble; then
        tls_note="not shown: pebble is not installed (make deps installs it)"
    elif pebble_start; then
        tls_demo=1
    else
        pebble_stop
        tls_note="not shown: Pebble did not start (see build/var/log/pebble.log)"
    fi
    seed
    render_conf
    nginx -t -q -p "$var" -c "$var/nginx.conf"
    trap 'echo; echo stopping...; stop; exit 0' INT TERM
    nginx -p "$var" -c "$var/nginx.conf" -g 'daemon off;' &
    nginx_job=$!
    seed_portal || echo "warning: the portal's demo data could not be written" >&2
    seed_console || echo "warning: the console's demo data could not be written" >&2
    seed_email || echo "warning: the demo mailbox could not be made" >&2
    # shellcheck disable=SC1091
    . "$var/demo.env"
    cat <<MSG

nginx-helpdesk is running (PostgreSQL and Redis on unix sockets in build/var/run).

  API base URL   $HELPDESK_URL
  API key        $HELPDESK_API_KEY
  Provider key   $HELPDESK_PROVIDER_KEY
  (all in build/var/demo.env; logs in build/var/log)

Try:
  curl -s -X POST $HELPDESK_URL/v1/tickets \\
       -H "Authorization: Bearer $HELPDESK_API_KEY" -H "Content-Type: application/json" \\
       -d '{"subject": "Problema reportado pelo sistema", "description": "Detectado erro no servidor XYZ", "priority": "high", "category": "infrastructure", "requester_email": "sistema@empresa.com"}'
  curl -s $HELPDESK_URL/v1/tickets -H "Authorization: Bearer $HELPDESK_API_KEY"

The customer portal of the demo tenant:
  Portal         ${HELPDESK_PORTAL_URL:-(not written: see the warning above)}
  Customer       ${HELPDESK_CUSTOMER_EMAIL:-(not written: see the warning above)}
  Password       ${HELPDESK_CUSTOMER_PASSWORD:-(not written: see the warning above)}

The agent console of the demo tenant (tickets from the API, the portal, WhatsApp and a phone call):
  Console        ${HELPDESK_CONSOLE_URL:-(not written: see the warning above)}
  Agent          ${HELPDESK_AGENT_EMAIL:-(not written: see the warning above)}
  Password       ${HELPDESK_AGENT_PASSWORD:-(not written: see the warning above)}

The website chat: a customer's page with the install snippet on it, and the
WebSocket endpoint its widget uses. Sign in to the console first and
switch to "Disponível" (available) in its top bar: with no agent available
the widget offers the offline form, which makes a ticket. The demo's bot
answers first; "Falar com uma pessoa" (talk to a person) puts the chat in
the queue, and the console offers it to you.
  Demo page      $HELPDESK_CHAT_DEMO_URL
  WebSocket      $HELPDESK_CHAT_WS_URL

Email: a raw message posted to the demo mailbox's inbound URL (as an MTA's
pipe transport does) opens an email ticket, and a reply to it joins it:
  Inbound URL    ${HELPDESK_EMAIL_INBOUND_URL:-(not written: see the warning above)}
  curl --data-binary @t/email/fixtures/gmail_new.eml -H 'Content-Type: message/rfc822' "\$HELPDESK_EMAIL_INBOUND_URL"

The mail the demo sends (replies on email tickets and their notices,
password resets, invitations, address verifications, chat transcripts)
goes to a local SMTP server, which keeps
each one as a file you can open in a mail reader or a text editor:
  Mail           $var/mail/*.eml

MSG
    if [ "$tls_demo" = 1 ]; then
        target="t-$(q "SELECT replace(tenant_id::text, '-', '') FROM helpdesk.tenants WHERE slug = 'demo'").domains.localhost"
        cat <<MSG

A customer's own domain with automatic TLS (README: "A customer's own
domain"): in the console, Configurações → Domínios (Settings → Domains),
add help.customer.test; point it at the demo tenant's CNAME target in the
demo's DNS (pebble-challtestsrv, 127.0.0.1:$CTS_DNS) with
  src/tools/demo-dns.sh help.customer.test $target
then "Verificar agora" (check now): Pebble (the local ACME CA,
https://127.0.0.1:$PEBBLE_ACME/dir) issues its certificate within seconds,
and the portal answers on it over TLS:
  curl --cacert $var/pebble/root.pem \\
       --resolve help.customer.test:$TLS_PORT:127.0.0.1 https://help.customer.test:$TLS_PORT/
MSG
    else
        echo
        echo "A customer's own domain with automatic TLS: $tls_note."
    fi
    echo
    echo "Ctrl-C (or make stop) stops everything."
    wait $nginx_job || true
    stop
    ;;

stop)
    stop
    ;;

rotate)
    rotate
    ;;

migrate)
    "$stack" pg-start "$var"
    "$stack" migrate "$var"
    ;;

*)
    echo "usage: devstack.sh run|stop|migrate|rotate" >&2
    exit 2
    ;;
esac
