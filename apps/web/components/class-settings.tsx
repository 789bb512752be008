'use client';

import type { Image, NetworkMode, Tenant } from '@labvisor/shared';
import { type FormEvent, useEffect, useState } from 'react';
import { NetworkField } from '@/components/network-field';
import { OptionalNumberField } from '@/components/number-field';
import { api, describeError } from '@/lib/api';

/**
 * A class's settings, for its admins: the image its launch form offers first, after how many
 * minutes without input its labs are suspended (their work kept; opening a console resumes one),
 * the size of each member's home disk, the network new labs get and whether the class network
 * reaches the internet.
 */
export function ClassSettings({
  tenant,
  platformAdmin,
}: {
  tenant: Tenant;
  /** Platform admins also set the class's network limits. */
  platformAdmin: boolean;
}) {
  const [images, setImages] = useState<Image[]>([]);
  const [imageId, setImageId] = useState(tenant.defaultImageId ?? '');
  const [minutes, setMinutes] = useState(tenant.idleSuspendMinutes?.toString() ?? '');
  const [homeGib, setHomeGib] = useState(tenant.homeDiskGib ? String(tenant.homeDiskGib) : '');
  const [network, setNetwork] = useState<NetworkMode>(tenant.defaultNetwork);
  const [classInternet, setClassInternet] = useState(tenant.classInternet);
  const [bandwidth, setBandwidth] = useState(tenant.bandwidthMbps?.toString() ?? '');
  const [maxOnline, setMaxOnline] = useState(tenant.maxInternetVms?.toString() ?? '');
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  useEffect(() => {
    api.listImages().then(setImages, () => setImages([]));
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await api.updateTenant(tenant.id, {
        defaultImageId: imageId || null,
        idleSuspendMinutes: minutes ? Number(minutes) : null,
        homeDiskGib: homeGib ? Number(homeGib) : 0,
        defaultNetwork: network,
        classInternet,
        ...(platformAdmin
          ? {
              bandwidthMbps: bandwidth ? Number(bandwidth) : null,
              maxInternetVms: maxOnline ? Number(maxOnline) : null,
            }
          : {}),
      });
      setMessage({ ok: true, text: 'Saved the class settings.' });
    } catch (caught) {
      setMessage({ ok: false, text: describeError(caught) });
    }
  };
  return (
    <section className="card" aria-labelledby="class-settings-title">
      <h2 id="class-settings-title">Class settings</h2>
      {message && (
        <p className={`alert ${message.ok ? 'success' : 'error'}`} role="status">
          {message.text}
        </p>
      )}
      <form onSubmit={submit} aria-label="Class settings">
        <div className="form-row">
          <div className="field">
            <label htmlFor="class-image">Image offered first</label>
            <select id="class-image" value={imageId} onChange={(e) => setImageId(e.target.value)}>
              <option value="">The first image listed</option>
              {images.map((image) => (
                <option key={image.id} value={image.id}>
                  {image.name}
                </option>
              ))}
            </select>
          </div>
          <OptionalNumberField
            id="class-idle"
            label="Suspend idle labs after (minutes)"
            min={5}
            max={1440}
            placeholder="never"
            value={minutes}
            onChange={setMinutes}
          />
          <OptionalNumberField
            id="class-home"
            label="Home disk per member (GiB)"
            min={1}
            max={1024}
            placeholder="none"
            value={homeGib}
            onChange={setHomeGib}
          />
        </div>
        {tenant.networkModes.length > 1 && (
          <div className="form-row">
            <NetworkField
              id="class-network"
              label="Network for new labs"
              modes={tenant.networkModes}
              value={network}
              onChange={setNetwork}
            />
            {tenant.networkModes.includes('class') && (
              <label className="check">
                <input
                  type="checkbox"
                  checked={classInternet}
                  onChange={(e) => setClassInternet(e.target.checked)}
                />
                The class network reaches the internet
              </label>
            )}
          </div>
        )}
        {platformAdmin && tenant.networkModes.length > 1 && (
          <div className="form-row">
            <OptionalNumberField
              id="class-bandwidth"
              label="Bandwidth per lab (Mbit/s each way)"
              min={1}
              max={100000}
              placeholder="unlimited"
              value={bandwidth}
              onChange={setBandwidth}
            />
            <OptionalNumberField
              id="class-online"
              label="Labs that may reach the internet"
              min={0}
              max={100000}
              placeholder="no cap"
              value={maxOnline}
              onChange={setMaxOnline}
            />
          </div>
        )}
        <p className="muted small">
          A lab with no key or pointer input for that long, and no interactive console open, is
          suspended with its work kept; its viewers are warned a minute before, and opening its
          console resumes it where it was.
        </p>
        <p className="muted small">
          A home disk is each member’s own: mounted as their home in every lab of the class, kept
          when a lab is reset, counted in the class’s disk quota, deleted with the member. It goes
          with one running lab of theirs at a time, and labs with one boot from their own disk
          rather than from a template or a warm pool.
        </p>
        <button className="button primary" type="submit">
          Save class settings
        </button>
      </form>
    </section>
  );
}
