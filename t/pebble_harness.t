# The Pebble harness (t/lib/Helpdesk/Pebble.pm) itself: Pebble and
# pebble-challtestsrv start on loopback, the ACME directory answers over
# the listener certificate made here, the mock DNS serves the records set
# through the harness (read back with dig when there is one, else with the
# small DNS client below), Pebble restarts on the same ports with a new
# root, and stop leaves nothing running.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use MIME::Base64 ();
use Digest::SHA ();
use Time::HiRes qw(sleep);
use Helpdesk::Pebble;

my $http_port = do {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
    $s->sockport;
};

my $ca = Helpdesk::Pebble->new(http_port => $http_port, validity => 120,
                               env => { PEBBLE_WFE_NONCEREJECT => 0 });
my $dig = -x '/usr/bin/dig' ? '/usr/bin/dig' : undef;
note $dig ? 'records read with dig' : 'records read with the DNS client of this test';

# --- the ACME directory

sub get {
    my ($url, @opt) = @_;
    my $ca_file = $ca->ca_file;
    my $out = `curl -s -S --max-time 10 --cacert '$ca_file' @opt -w '\\n%{http_code}' '$url' 2>&1`;
    my ($body, $code) = $out =~ /\A(.*)\n(\d{3})\z/s or return (0, $out);
    return ($code, $body);
}

my ($code, $body) = get($ca->directory_url);
is $code, 200, 'the directory answers over TLS, verified with the listener CA';
my $dir = eval { decode_json($body) } // {};
ok $dir->{$_}, "the directory has $_" for qw(newNonce newAccount newOrder revokeCert);
like $dir->{newOrder} // '', qr{^https://127\.0\.0\.1:\d+/}, 'on the loopback listener';

($code, $body) = get($dir->{newNonce}, '-I');
like $body, qr/^replay-nonce: \S+/mi, 'newNonce gives a Replay-Nonce';

my $plain = `curl -s -S --max-time 10 '@{[ $ca->directory_url ]}' 2>&1`;
isnt $?, 0, 'without the listener CA, the certificate is refused';

my $conf = decode_json(do { local (@ARGV, $/) = $ca->config_file; <> });
is $conf->{pebble}{httpPort}, $http_port, 'httpPort is the port given';
is $conf->{pebble}{certificateValidityPeriod}, 120, 'the validity option is written';

my $environ = do { local (@ARGV, $/) = "/proc/" . $ca->pebble_pid . "/environ"; <> } // '';
like $environ, qr/(?:^|\0)PEBBLE_WFE_NONCEREJECT=0(?:\0|$)/, 'env overrides reach Pebble';
like $environ, qr/(?:^|\0)PEBBLE_VA_NOSLEEP=1(?:\0|$)/, 'and PEBBLE_VA_NOSLEEP=1';

# --- the mock DNS

my %TYPE = (A => 1, CNAME => 5, TXT => 16, AAAA => 28, CAA => 257);

# A name from a message, following compression pointers (backwards only).
sub dns_name {
    my ($msg, $pos) = @_;
    my (@labels, $end);
    for (1 .. 64) {
        my $n = ord substr($msg, $pos, 1);
        if (($n & 0xc0) == 0xc0) {
            my $ptr = unpack('n', substr($msg, $pos, 2)) & 0x3fff;
            $end //= $pos + 2;
            die "forward pointer" if $ptr >= $pos;
            $pos = $ptr;
            next;
        }
        $pos++;
        return (join('.', @labels) . '.', $end // $pos) if $n == 0;
        push @labels, substr($msg, $pos, $n);
        $pos += $n;
    }
    die "name too long";
}

# (rcode, [ [type, value], ... ]) of the answer section
sub query {
    my ($name, $type) = @_;
    if ($dig) {
        my $port = $ca->dns_port;
        my $out = `$dig \@127.0.0.1 -p $port +tries=1 +time=3 +noall +answer +comments $name $type 2>&1`;
        my ($status) = $out =~ /status: (\w+)/;
        my @rr;
        for (split /\n/, $out) {
            next if /^;/ || !/\S/;
            my (undef, undef, undef, $t, @v) = split /\s+/;
            my $v = join ' ', @v;
            $v =~ s/^"(.*)"$/$1/ if $t eq 'TXT';
            $v =~ s/^0 issue "(.*)"$/0 issue $1/ if $t eq 'CAA';
            push @rr, [$t, $v];
        }
        return ({ NOERROR => 0, SERVFAIL => 2, NXDOMAIN => 3 }->{$status // ''} // -1, \@rr);
    }

    my $id = int rand 65536;
    my $q = pack('n6', $id, 0x0100, 1, 0, 0, 0)
        . join('', map { chr(length) . $_ } split /\./, $name) . "\0"
        . pack('n2', $TYPE{$type}, 1);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ca->dns_port,
                                  Proto => 'udp') or die $!;
    $s->send($q);
    IO::Select->new($s)->can_read(3) or return (-1, []);
    $s->recv(my $msg, 4096);
    my ($rid, $flags, $qd, $an) = unpack 'n4', $msg;
    return (-1, []) if $rid != $id || !($flags & 0x8000);
    my $pos = 12;
    for (1 .. $qd) { (undef, $pos) = dns_name($msg, $pos); $pos += 4 }
    my @rr;
    for (1 .. $an) {
        (undef, $pos) = dns_name($msg, $pos);
        my ($t, undef, undef, $len) = unpack 'n n N n', substr($msg, $pos, 10);
        $pos += 10;
        my $rd = substr($msg, $pos, $len);
        my ($tn) = grep { $TYPE{$_} == $t } keys %TYPE;
        my $v;
        if ($t == 1) { $v = join '.', unpack 'C4', $rd }
        elsif ($t == 5) { ($v) = dns_name($msg, $pos) }
        elsif ($t == 16) {
            my ($i, $s) = (0, '');
            while ($i < length $rd) { my $n = ord substr($rd, $i, 1); $s .= substr($rd, $i + 1, $n); $i += 1 + $n }
            $v = $s;
        }
        elsif ($t == 257) {
            my ($fl, $tl) = unpack 'C C', $rd;
            $v = "$fl " . substr($rd, 2, $tl) . ' ' . substr($rd, 2 + $tl);
        }
        else { $v = unpack 'H*', $rd }
        push @rr, [$tn // $t, $v];
        $pos += $len;
    }
    return ($flags & 0xf, \@rr);
}

sub values_of {
    my ($type, $rr) = @_;
    return [ map { $_->[1] } grep { $_->[0] eq $type } @$rr ];
}

my ($rc, $rr) = query('shop.example.com', 'A');
is $rc, 0, 'an A query is answered';
is_deeply values_of(A => $rr), ['127.0.0.1'], 'any name is 127.0.0.1 by default';

($rc, $rr) = query('shop.example.com', 'AAAA');
is_deeply values_of(AAAA => $rr), [], 'no AAAA (defaultIPv6 is empty)';

$ca->set_cname('shop.example.com', 't-42.custom.example.net');
($rc, $rr) = query('shop.example.com', 'CNAME');
is_deeply values_of(CNAME => $rr), ['t-42.custom.example.net.'], 'the CNAME set is served';

$ca->clear_cname('shop.example.com');
($rc, $rr) = query('shop.example.com', 'CNAME');
is_deeply values_of(CNAME => $rr), [], 'and cleared';

$ca->set_txt('_helpdesk-verify.shop.example.com', 'helpdesk-verify=abc123');
($rc, $rr) = query('_helpdesk-verify.shop.example.com', 'TXT');
is_deeply values_of(TXT => $rr), ['helpdesk-verify=abc123'], 'the TXT set is served';
$ca->clear_txt('_helpdesk-verify.shop.example.com');
($rc, $rr) = query('_helpdesk-verify.shop.example.com', 'TXT');
is_deeply values_of(TXT => $rr), [], 'and cleared';

$ca->add_caa('shop.example.com', issue => 'pebble.letsencrypt.org');
($rc, $rr) = query('shop.example.com', 'CAA');
is_deeply values_of(CAA => $rr), ['0 issue pebble.letsencrypt.org'], 'the CAA set is served';
$ca->clear_caa('shop.example.com');
($rc, $rr) = query('shop.example.com', 'CAA');
is_deeply values_of(CAA => $rr), [], 'and cleared';

$ca->add_a('elsewhere.example.com', '127.0.0.2');
($rc, $rr) = query('elsewhere.example.com', 'A');
is_deeply values_of(A => $rr), ['127.0.0.2'], 'an A record set replaces the default';
$ca->clear_a('elsewhere.example.com');
($rc, $rr) = query('elsewhere.example.com', 'A');
is_deeply values_of(A => $rr), ['127.0.0.1'], 'and cleared';

$ca->set_servfail('broken.example.com');
($rc, $rr) = query('broken.example.com', 'A');
is $rc, 2, 'SERVFAIL when told';
$ca->clear_servfail('broken.example.com');
($rc, $rr) = query('broken.example.com', 'A');
is $rc, 0, 'and answers again';

# --- roots, restart, log, certificate status

my $root = $ca->root_pem;
like $root, qr/^-----BEGIN CERTIFICATE-----/, "Pebble's issuing root from the management interface";
is $ca->cert_status('0123456789abcdef'), undef, 'an unknown serial has no status';

my $dir_requests = $ca->count(qr{/dir});
cmp_ok $dir_requests, '>=', 1, "Pebble's log shows the directory requests ($dir_requests)";

my $old_pid = $ca->pebble_pid;
$ca->set_txt('kept.example.com', 'still-here');
$ca->restart;
isnt $ca->pebble_pid, $old_pid, 'restart starts another Pebble';
($code, $body) = get($ca->directory_url);
is $code, 200, 'on the same port';
isnt $ca->root_pem, $root, 'with a new root, fetched again';
($rc, $rr) = query('kept.example.com', 'TXT');
is_deeply values_of(TXT => $rr), ['still-here'], 'the mock DNS kept its records';
cmp_ok $ca->count(qr{/dir}), '>', $dir_requests, 'the log goes on across the restart';

# --- one certificate issued end to end: Pebble's VA resolves the name
# through challtestsrv (127.0.0.1) and fetches the HTTP-01 answer from
# http_port, served here; this client signs with the openssl command

my $tmp = $ca->dir;

sub b64u { MIME::Base64::encode_base64url($_[0]) }

sub sh {
    my $out = `$_[0]`;
    die "$_[0]: $out" if $?;
    return $out;
}

sub spew {
    my ($file, $data) = @_;
    open my $fh, '>', $file or die $!;
    binmode $fh;
    print $fh $data;
    close $fh;
}

sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $tmp/acct.key 2>&1");
my $xy = substr sh("openssl pkey -in $tmp/acct.key -pubout -outform DER"), -64;
my $jwk = sprintf '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}',
    b64u(substr $xy, 0, 32), b64u(substr $xy, 32);
my $thumb = b64u(Digest::SHA::sha256($jwk));

# DER ECDSA-Sig-Value to r || s
sub der_to_raw {
    my ($d) = @_;
    my ($pos, $raw) = (2, '');
    for (1 .. 2) {
        my $l = ord substr $d, $pos + 1, 1;
        (my $v = substr $d, $pos + 2, $l) =~ s/^\0+//;
        $raw .= ("\0" x (32 - length $v)) . $v;
        $pos += 2 + $l;
    }
    return $raw;
}

my ($nonce, $kid);

# (status, body, location) of a signed POST; payload undef = POST-as-GET
sub acme_post {
    my ($url, $payload) = @_;
    unless ($nonce) {
        my (undef, $h) = get($dir->{newNonce}, '-I');
        ($nonce) = $h =~ /^replay-nonce: (\S+)/mi;
    }
    my $prot = '{"alg":"ES256",' . ($kid ? qq("kid":"$kid") : qq("jwk":$jwk))
        . qq(,"nonce":"$nonce","url":"$url"});
    my ($p64, $pl64) = (b64u($prot), defined $payload ? b64u($payload) : '');
    spew("$tmp/in", "$p64.$pl64");
    my $sig = der_to_raw(sh("openssl dgst -sha256 -sign $tmp/acct.key -binary $tmp/in"));
    spew("$tmp/body", qq({"protected":"$p64","payload":"$pl64","signature":") . b64u($sig) . '"}');
    my $ca_file = $ca->ca_file;
    my $out = `curl -s --max-time 10 --cacert '$ca_file' -D '$tmp/hdr' -H 'Content-Type: application/jose+json' --data-binary '\@$tmp/body' '$url'`;
    my $h = do { local (@ARGV, $/) = "$tmp/hdr"; <> } // '';
    ($nonce) = $h =~ /^replay-nonce: (\S+)/mi;
    my ($status) = $h =~ m{^HTTP/\S+ (\d+)}m;
    my ($loc) = $h =~ /^location: (\S+)/mi;
    return ($status // 0, $out, $loc);
}

my ($st, $res, $loc) = acme_post($dir->{newAccount}, '{"termsOfServiceAgreed":true}');
is $st, 201, 'newAccount' or diag $res;
$kid = $loc;

($st, $res, $loc) = acme_post($dir->{newOrder},
    '{"identifiers":[{"type":"dns","value":"shop.example.com"}]}');
is $st, 201, 'newOrder' or diag $res;
my $order_url = $loc;
my $order = eval { decode_json($res) } // {};

($st, $res) = acme_post($order->{authorizations}[0]);
my ($chall) = grep { $_->{type} eq 'http-01' } @{ (eval { decode_json($res) } // {})->{challenges} // [] };
ok $chall && $chall->{token}, 'the authorization offers http-01';
my $token = $chall->{token} // '';

my $http = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => $http_port,
                                 Proto => 'tcp', ReuseAddr => 1) or die "http_port: $!";
my $hits = "$tmp/http01";
my $server = fork // die $!;
if ($server == 0) {
    while (my $c = $http->accept) {
        my $line = <$c> // '';
        while (defined(my $l = <$c>)) { last unless $l =~ /\S/ }
        open my $fh, '>>', $hits; print $fh $line; close $fh;
        my $body = $line =~ m{^GET /\.well-known/acme-challenge/\Q$token\E } ? "$token.$thumb" : '';
        print $c ($body ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 404 Not Found\r\n")
            . "Content-Type: text/plain\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
        close $c;
    }
    exit 0;
}
close $http;

($st, $res) = acme_post($chall->{url}, '{}');
is $st, 200, 'the challenge is answered' or diag $res;

my $authz;
for (1 .. 100) {
    ($st, $res) = acme_post($order->{authorizations}[0]);
    $authz = eval { decode_json($res) } // {};
    last if ($authz->{status} // '') ne 'pending';
    sleep 0.1;
}
is $authz->{status}, 'valid', 'Pebble validated over http_port' or diag $res;
like do { local (@ARGV, $/) = $hits; <> } // '', qr{^GET /\.well-known/acme-challenge/\Q$token\E HTTP}m,
    'its request reached the server on http_port';

sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $tmp/leaf.key "
   . "-subj /CN=shop.example.com -addext subjectAltName=DNS:shop.example.com -outform DER "
   . "-out $tmp/csr.der 2>&1");
my $csr = do { local (@ARGV, $/) = "$tmp/csr.der"; binmode ARGV; <> };
($st, $res) = acme_post($order->{finalize}, '{"csr":"' . b64u($csr) . '"}');
is $st, 200, 'finalize' or diag $res;

for (1 .. 100) {
    ($st, $res) = acme_post($order_url);
    $order = eval { decode_json($res) } // {};
    last if ($order->{status} // '') eq 'valid' || ($order->{status} // '') eq 'invalid';
    sleep 0.1;
}
is $order->{status}, 'valid', 'the order is valid';

($st, $res) = acme_post($order->{certificate} // $order_url);
like $res, qr/^-----BEGIN CERTIFICATE-----/, 'the certificate chain is downloaded';
spew("$tmp/chain.pem", $res);
my $text = sh("openssl x509 -in $tmp/chain.pem -noout -serial -dates -ext subjectAltName 2>&1");
like $text, qr/DNS:shop\.example\.com/, 'for the name ordered';
my ($serial) = $text =~ /^serial=(\w+)/m;
my $status = $ca->cert_status($serial);
is $status && $status->{Status}, 'Valid', 'cert_status knows it by its serial';
my ($nb) = $text =~ /notBefore=(.+)/;
my ($na) = $text =~ /notAfter=(.+)/;
my $life = `date -d '$na' +%s` - `date -d '$nb' +%s`;
cmp_ok abs($life - 120), '<=', 2, "it lives certificateValidityPeriod ($life s)";
is $ca->count(qr{order-plz}), 1, "Pebble's log shows one new order";

kill 'TERM', $server;
waitpid $server, 0;

my ($pp, $cp) = ($ca->pebble_pid, $ca->chall_pid);
$ca->stop;
ok !kill(0, $pp), 'stop ends Pebble';
ok !kill(0, $cp), 'and challtestsrv';
($code) = get($ca->directory_url);
is $code, '000', 'nothing answers any more';

done_testing;
