# The login on tty1 (autologin, the VGA screen) starts the desktop; X's log goes to ~/.xsession-errors.
if [ "$(tty)" = /dev/tty1 ] && [ -z "${DISPLAY:-}" ]; then
  exec startx /usr/local/bin/labvisor-session -- vt1 -nolisten tcp >"$HOME/.xsession-errors" 2>&1
fi
