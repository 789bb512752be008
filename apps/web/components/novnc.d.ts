declare module '@novnc/novnc' {
  /** noVNC's RFB client (untyped upstream); the viewer narrows it to what it uses. */
  const RFB: new (
    target: HTMLElement,
    url: string,
    options?: Record<string, unknown>,
  ) => EventTarget;
  export default RFB;
}
