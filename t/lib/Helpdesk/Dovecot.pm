package Helpdesk::Dovecot;

# A Dovecot IMAP server for a test: its configuration, certificate, users
# (a passwd-file) and maildirs all under the test's own directory, on
# loopback ports (imaps with implicit TLS, imap with STARTTLS), logging
# to a file there.  No system service is touched: dovecot runs with
# "-c" on its own base_dir, as the current user (as root: its internal
# and login processes, and the mail, as "nobody").
#
#   my $imap = Helpdesk::Dovecot->new(dir => "$dir/imap",
#                                     users => { support => 'secret' });
#   $imap->start;
#   $imap->deliver('support', $raw_message);      # into INBOX's new/
#   $imap->url('INBOX')        # imaps://127.0.0.1:<port>/INBOX
#   $imap->ca_file             # the certificate to trust
#   $imap->stop;
#
# With oauth2 => <introspection URL>, XOAUTH2 and OAUTHBEARER logins are
# taken too: Dovecot's oauth2 passdb posts the bearer token to that URL
# and takes the login when it answers {"active": "true", "username": the
# login's user}.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

my $seq = 0;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp') or die $!;
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub new {
    my ($class, %opt) = @_;
    my $dir = $opt{dir} or die 'dir';
    make_path("$dir/run", "$dir/state", "$dir/mail");
    chmod 0777, "$dir/mail";
    chmod 0755, $dir, "$dir/run", "$dir/state";

    my $self = bless {
        dir => $dir,
        users => $opt{users} // {},
        oauth2 => $opt{oauth2},
        port => free_port(),
        sport => free_port(),
    }, $class;

    $self->_cert;
    $self->_passwd;
    $self->_conf;
    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub sport { $_[0]{sport} }
sub ca_file { "$_[0]{dir}/cert.pem" }
sub log_file { "$_[0]{dir}/dovecot.log" }

# imaps (implicit TLS) by default; imap:// (STARTTLS) with starttls => 1
sub url {
    my ($self, $folder, %opt) = @_;
    return $opt{starttls}
        ? "imap://127.0.0.1:$self->{port}/" . ($folder // 'INBOX')
        : "imaps://127.0.0.1:$self->{sport}/" . ($folder // 'INBOX');
}

sub _run {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    die "$cmd failed: $out" if $?;
    return $out;
}

# A self-signed certificate for 127.0.0.1 and localhost, its own CA.
sub _cert {
    my ($self) = @_;
    my $d = $self->{dir};
    _run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
         . "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
         . "-addext basicConstraints=critical,CA:TRUE "
         . "-keyout $d/key.pem -out $d/cert.pem");
    chmod 0644, "$d/cert.pem", "$d/key.pem";
}

sub _passwd {
    my ($self) = @_;
    my $f = "$self->{dir}/passwd";
    open my $fh, '>', $f or die "$f: $!";
    print $fh "$_:{PLAIN}$self->{users}{$_}::::::\n" for sort keys %{ $self->{users} };
    close $fh;
    chmod 0644, $f;
}

sub set_password {
    my ($self, $user, $password) = @_;
    $self->{users}{$user} = $password;
    $self->_passwd;
}

sub _conf {
    my ($self) = @_;
    my $d = $self->{dir};
    my ($user, $uid, $gid);
    if ($> == 0) {
        ($user, $uid, $gid) = ('nobody', (getpwnam('nobody'))[2, 3]);
    } else {
        ($user, $uid, $gid) = (scalar getpwuid($>), $>, $) + 0);
    }
    my $group = getgrgid($gid) // $gid;
    $self->{uid} = $uid;
    $self->{gid} = $gid;

    my ($mechs, $oauth) = ('plain login', '');
    if ($self->{oauth2}) {
        $mechs = 'plain login xoauth2 oauthbearer';
        open my $o, '>', "$d/oauth2.conf.ext" or die $!;
        print $o "introspection_mode = post\nintrospection_url = $self->{oauth2}\n"
            . "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            . "force_introspection = yes\n";
        close $o;
        chmod 0644, "$d/oauth2.conf.ext";
        $oauth = "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
               . "  args = $d/oauth2.conf.ext\n}\n";
    }

    open my $fh, '>', "$d/dovecot.conf" or die $!;
    print $fh <<"EOF";
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
debug_log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = $user
default_internal_group = $group
default_login_user = $user
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = 0
ssl = yes
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
disable_plaintext_auth = yes
auth_mechanisms = $mechs
mail_location = maildir:$d/mail/%u
${oauth}passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$d/mail/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Processed {
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $self->{port}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $self->{sport}
    ssl = yes
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
EOF
    close $fh;
}

sub start {
    my ($self) = @_;
    my $d = $self->{dir};
    # the master keeps whatever it was given open: nothing to wait on
    system("dovecot -c $d/dovecot.conf </dev/null >>$d/start.log 2>&1") == 0
        or die "dovecot -c $d/dovecot.conf failed: " . `cat $d/start.log`;
    my $t0 = time;
    while (time - $t0 < 10) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}", Timeout => 1);
        if ($s) { close $s; $self->{running} = 1; return $self }
        sleep 0.05;
    }
    die "dovecot did not start:\n" . do { local $/; open my $l, '<', "$d/dovecot.log"; <$l> // '' };
}

sub stop {
    my ($self) = @_;
    return unless $self->{running};
    system("dovecot -c $self->{dir}/dovecot.conf stop >/dev/null 2>&1");
    my $pidf = "$self->{dir}/run/master.pid";
    my $t0 = time;
    while (-e $pidf && time - $t0 < 10) { sleep 0.05 }
    $self->{running} = 0;
}

# A maildir's folder ("INBOX" or a folder of the namespace), created.
sub folder_dir {
    my ($self, $user, $folder) = @_;
    my $base = "$self->{dir}/mail/$user";
    my $d = (!defined $folder || $folder eq 'INBOX') ? $base : "$base/.$folder";
    for my $sub ('', '/new', '/cur', '/tmp') {
        make_path("$d$sub");
        chmod 0777, "$d$sub";
        chown $self->{uid}, $self->{gid}, "$d$sub" if $> == 0;
    }
    chmod 0777, $base;
    chown $self->{uid}, $self->{gid}, $base if $> == 0;
    return $d;
}

# A message into a folder's new/, as a delivery agent would put it.
sub deliver {
    my ($self, $user, $raw, %opt) = @_;
    my $d = $self->folder_dir($user, $opt{folder});
    $seq++;
    my $name = sprintf '%d.P%dQ%06d.test%s', time, $$, $seq, $opt{seen} ? ':2,S' : '';
    my $sub = $opt{seen} ? 'cur' : 'new';
    my $tmp = "$d/tmp/$name";
    open my $fh, '>:raw', $tmp or die "$tmp: $!";
    print $fh $raw;
    close $fh;
    chmod 0666, $tmp;
    chown $self->{uid}, $self->{gid}, $tmp if $> == 0;
    rename $tmp, "$d/$sub/$name" or die $!;
    return $name;
}

# Every message file of a folder: { flags => 'S', name => ... }
sub messages {
    my ($self, $user, $folder) = @_;
    my $d = $self->folder_dir($user, $folder);
    my @m;
    for my $sub ('new', 'cur') {
        opendir my $dh, "$d/$sub" or next;
        for my $f (grep { !/^\./ } readdir $dh) {
            my ($flags) = $f =~ /:2,([A-Za-z]*)$/;
            push @m, { name => $f, flags => $flags // '', sub => $sub };
        }
    }
    return @m;
}

# A new UIDVALIDITY for a folder, as a server that rebuilt it would give
# (its sessions are told to log in again).
sub reset_uidvalidity {
    my ($self, $user, $folder, $validity) = @_;
    $validity //= int(time) + 1000;
    my $d = $self->{dir};
    system("doveadm -c $d/dovecot.conf mailbox update -u $user --uid-validity $validity "
           . ($folder // 'INBOX') . " >>$d/doveadm.log 2>&1") == 0
        or die 'doveadm mailbox update failed: ' . `cat $d/doveadm.log`;
    return $validity;
}

sub log_text {
    my ($self) = @_;
    open my $l, '<', $self->log_file or return '';
    local $/;
    return <$l>;
}

sub DESTROY { $_[0]->stop }

1;
