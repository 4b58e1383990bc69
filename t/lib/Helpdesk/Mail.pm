package Helpdesk::Mail;

# An SMTP server for the tests: src/tools/smtp-sink.py (python3-aiosmtpd)
# on a free loopback port, keeping every mail it accepts as a file under
# the test's directory; optionally with STARTTLS (a certificate made here,
# its CA given to the module), implicit TLS, AUTH, AUTH XOAUTH2 checked
# against an OAuth provider's introspection endpoint (xoauth2 => url),
# or refusing every recipient.  messages() reads them back, parsed: headers (unfolded, RFC
# 2047 words decoded), and the text and HTML parts decoded to UTF-8
# strings.

use strict;
use warnings;

use Encode qw(decode);
use MIME::Base64 qw(decode_base64);
use MIME::QuotedPrint qw(decode_qp);
use File::Path qw(make_path);
use Helpdesk::Test qw(until_true);

my $PYTHON = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

sub new {
    my ($class, $t, %opt) = @_;
    my $name = $opt{name} // 'smtp';
    my $dir = $t->dir . "/$name";
    make_path("$dir/mail");
    my $self = bless { t => $t, dir => $dir, port => Helpdesk::Test::free_port(), opt => \%opt }, $class;
    if ($opt{tls} || $opt{implicit_tls}) {
        my $out = `openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \\
                   -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \\
                   -keyout $dir/key.pem -out $dir/cert.pem 2>&1`;
        die "openssl: $out" if $?;
    }
    $self->start;
    return $self;
}

sub port { $_[0]{port} }
sub dir { "$_[0]{dir}/mail" }
sub ca_file { "$_[0]{dir}/cert.pem" }
sub url {
    my ($self) = @_;
    return ($self->{opt}{implicit_tls} ? 'smtps' : 'smtp') . "://127.0.0.1:$self->{port}";
}

sub start {
    my ($self) = @_;
    my $o = $self->{opt};
    my @args = ('--port', $self->{port}, '--dir', $self->dir);
    push @args, '--cert', "$self->{dir}/cert.pem", '--key', "$self->{dir}/key.pem"
        if $o->{tls} || $o->{implicit_tls};
    push @args, '--implicit-tls' if $o->{implicit_tls};
    push @args, '--auth', $o->{auth} if $o->{auth};
    push @args, '--refuse', $o->{refuse} if $o->{refuse};
    push @args, '--xoauth2', $o->{xoauth2} if $o->{xoauth2};
    unlink "$self->{dir}/sink.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$self->{dir}/sink.log";
        open STDERR, '>&', \*STDOUT;
        exec $PYTHON, "$Helpdesk::Test::TOP/src/tools/smtp-sink.py", @args;
        exit 127;
    }
    $self->{pid} = $pid;
    until_true(sub {
        open my $fh, '<', "$self->{dir}/sink.log" or return 0;
        local $/;
        (<$fh> // '') =~ /ready/;
    }, 10) or die "the SMTP sink did not start: " . `cat $self->{dir}/sink.log`;
    return $self;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    local $?;       # the sink's end is not the test's exit status
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub files { sort glob($_[0]->dir . '/*.eml') }

# Waits for $n mails in all; returns every mail, parsed.
sub wait_for {
    my ($self, $n, $timeout) = @_;
    until_true(sub { my @f = $self->files; @f >= $n }, $timeout // 15);
    return $self->messages;
}

sub messages {
    my ($self) = @_;
    return [ map { parse(do { local $/; open my $fh, '<:raw', $_ or die; <$fh> }) } $self->files ];
}

sub header_decode {
    my ($v) = @_;
    return decode('MIME-Header', $v);
}

# a message: { raw, headers => { lc name => [values] }, header(name),
#              text, html, parts => [...] }
sub parse {
    my ($raw) = @_;
    my ($head, $body) = split /\r?\n\r?\n/, $raw, 2;
    $head =~ s/\r?\n[ \t]+/ /g;
    my %h;
    my @order;
    for my $line (split /\r?\n/, $head) {
        my ($k, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        push @{ $h{lc $k} }, $v;
        push @order, lc $k;
    }
    my $m = { raw => $raw, headers => \%h, order => \@order, body => $body, parts => [] };
    my ($ct) = @{ $h{'content-type'} // [''] };
    if (my ($b) = $ct =~ /boundary="?([^";]+)"?/) {
        my @chunks = split /\r?\n?--\Q$b\E(?:--)?\r?\n?/, $body;
        for my $chunk (@chunks) {
            next unless $chunk =~ /\S/ && $chunk =~ /Content-Type/i;
            my $p = parse($chunk);
            push @{ $m->{parts} }, $p;
        }
    } else {
        my ($cte) = @{ $h{'content-transfer-encoding'} // [''] };
        my $bytes = $cte =~ /quoted-printable/i ? decode_qp($body)
                  : $cte =~ /base64/i ? decode_base64($body) : $body;
        $m->{content} = decode('UTF-8', $bytes);
    }
    for my $p (@{ $m->{parts} }) {
        my ($pct) = @{ $p->{headers}{'content-type'} // [''] };
        $m->{text} //= $p->{content} if $pct =~ m{^text/plain}i;
        $m->{html} //= $p->{content} if $pct =~ m{^text/html}i;
    }
    return $m;
}

sub header {
    my ($m, $name) = @_;
    my $v = $m->{headers}{lc $name} or return undef;
    return header_decode($v->[0]);
}

# what the sink printed (its XOAUTH2 checks)
sub log_text { my ($self) = @_; open my $fh, '<', "$self->{dir}/sink.log" or return ''; local $/; <$fh> // '' }

sub DESTROY { $_[0]->stop }

1;
